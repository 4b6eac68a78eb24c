"""The portal on a screen: server-rendered pages for PC, phone and TV (issue 21)."""
