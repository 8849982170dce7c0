package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
)

// publishCatalog publishes reg's catalog for reader services and says so.
func publishCatalog(cmd *cobra.Command, reg *features.Registry, cfg app.Config) error {
	version, changed, err := app.PublishCatalog(cmd.Context(), reg, cfg)
	switch {
	case errors.Is(err, app.ErrOnlineDisabled):
		fmt.Fprintln(cmd.OutOrStdout(), "catalog not published: no online store")
		return nil
	case err != nil:
		return err
	case changed:
		fmt.Fprintf(cmd.OutOrStdout(), "catalog %s published for readers\n", version)
	default:
		fmt.Fprintf(cmd.OutOrStdout(), "catalog %s unchanged\n", version)
	}
	return nil
}
