"""Share: members repost activities to their public Weibo timeline, and outsiders follow."""
