"""Notifications: findings → incidents (policy) → email with charts and links; SMTP sink for the demo."""
