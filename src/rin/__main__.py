from rin.cli import main

raise SystemExit(main())
