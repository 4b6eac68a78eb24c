"""People: the 基本4情報, the encrypted individual number, and family links."""
