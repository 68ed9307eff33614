// Package browser holds the dashboard's browser test: headless Chromium, driven with
// chromedp, loads a live in-process swarm's dashboard. It is a package of its own so that
// the browser's goroutines stay out of testnet's leak checks.
package browser
