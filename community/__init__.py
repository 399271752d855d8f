"""Community: tiered posts, offers and activities published in Wagtail, and the access gate."""
