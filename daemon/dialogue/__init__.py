"""Dialogue: sessions, follow-ups, questions back, confirmations and timers."""
