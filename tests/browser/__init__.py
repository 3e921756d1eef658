"""Real-browser tests: the app served over HTTP, driven by Debian's Chromium through Playwright."""
