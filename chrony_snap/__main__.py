from chrony_snap.cli import main

raise SystemExit(main())
