"""Notifications: SMS, e-mail, Zalo, signed webhooks and national-portal status sync."""
