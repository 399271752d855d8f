"""Members: Weibo login, admission to the club, tiers, consent and the member record."""
