from nfc_bridge.portal.commands import main

raise SystemExit(main())
