from swictation_rpc.cli import main

raise SystemExit(main())
