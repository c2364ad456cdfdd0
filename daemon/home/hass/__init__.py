"""Home Assistant's own home, read and switched over its websocket API."""
