import sys

from services.meetings.feed.cli import main

sys.exit(main())
