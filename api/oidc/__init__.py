"""もっとつながる: the portal as an OpenID Provider and the 自己情報取得API (issue 20)."""
