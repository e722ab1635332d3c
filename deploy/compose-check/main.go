// compose-check loads Compose files with compose-go, the loader Docker Compose itself uses,
// and prints the resolved project, as `docker compose config` does, without a Docker engine:
// interpolation, merge keys, schema validation and references between services all apply.
//
//	go run ./deploy/compose-check docker-compose.yml
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check FILE [FILE...]")
		os.Exit(2)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "compose-check:", err)
		os.Exit(1)
	}
}

func run(files []string) error {
	options, err := cli.NewProjectOptions(files, cli.WithOsEnv, cli.WithDotEnv)
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	resolved, err := project.MarshalYAML()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(resolved)
	return err
}
