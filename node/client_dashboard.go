package node

import "context"

// Why asks the daemon why it is not computing.
func (c *Client) Why(ctx context.Context) (WhyReport, error) {
	var v WhyReport
	return v, c.Get(ctx, "/api/v1/why", &v)
}

// Dashboard returns everything the dashboard page shows.
func (c *Client) Dashboard(ctx context.Context) (Dashboard, error) {
	var v Dashboard
	return v, c.Get(ctx, "/api/v1/dashboard", &v)
}

// ReloadPrefs makes the daemon read its preferences from config.json again.
func (c *Client) ReloadPrefs(ctx context.Context) (PrefsInfo, error) {
	var v PrefsInfo
	return v, c.Post(ctx, "/api/v1/prefs/reload", struct{}{}, &v)
}

// BaseURL is the daemon API's address as a URL: http://host:port (or https://).
func (c *Client) BaseURL() string { return c.base }

// Token is the API token the client sends.
func (c *Client) Token() string { return c.token }
