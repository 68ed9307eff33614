package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/urfave/cli/v3"
)

const flagPrint = "print"

func dashboardCmd() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "open the running node's web dashboard in a browser",
		Description: "Prints the dashboard's address with the API token in its fragment (#token=...,\n" +
			"which browsers do not send to the server) and opens it in the default browser\n" +
			"when there is one. The page keeps the token in the browser's local storage.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagPrint, Usage: "only print the address, do not open a browser", Sources: env("dashboard-print")},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("dashboard takes no arguments")
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			if _, err := c.Health(ctx); err != nil {
				return apiErr(err)
			}
			url := fmt.Sprintf("%s/#token=%s", c.BaseURL(), c.Token())
			opened := ""
			if !cmd.Bool(flagPrint) && !cmd.Bool(flagJSON) {
				opened = openBrowser(url)
			}
			out := struct {
				URL    string `json:"url"`
				Opened string `json:"opened_with,omitempty"`
			}{url, opened}
			return printOut(cmd, out, func(p *printer) {
				p.f("%s", url)
				if opened != "" {
					p.f("opened with %s", opened)
				} else if !cmd.Bool(flagPrint) {
					p.f("open it in a browser on this machine (no browser opener found)")
				}
			})
		},
	}
}

// openBrowser starts the platform's opener on url and returns its name, or "" when there
// is none. It does not wait for the browser.
func openBrowser(url string) string {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name, args = "open", []string{url}
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", url}
	default:
		name, args = "xdg-open", []string{url}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	c := exec.Command(path, args...)
	if err := c.Start(); err != nil {
		return ""
	}
	go c.Wait() // reap it
	return name
}
