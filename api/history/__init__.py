"""The person's record (やりとり履歴): every exchange of their data between agencies and every read of it by
someone else (a proxy, a parent, an operator), newest first, with a live feed, parent/proxy access and the
7-year retention."""
