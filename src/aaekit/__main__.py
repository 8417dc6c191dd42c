from aaekit.cli import main

raise SystemExit(main())
