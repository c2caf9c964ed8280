from incident_notify.cli import main

raise SystemExit(main())
