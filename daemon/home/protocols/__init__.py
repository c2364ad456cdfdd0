"""Per-integration payloads and state readers behind `daemon.home.payloads` and
`daemon.home.state`: zigbee2mqtt, Tasmota, ESPHome, Home Assistant discovery, custom.

Each integration module offers `messages` (absolute actions only: relative ones are
resolved by payloads.py), `parse`, `topics` and `availability_topics`.
"""
