package mapping

import "github.com/orgsync/orgsync/connectors/csv"

// testFiles is the reader mapping's tests compile with: the csv
// connector's, as the engine's.
var testFiles TableReader = csv.TableReader{}

// withFiles gives a test's config the reader unless it has one.
func withFiles(c Config) Config {
	if c.Files == nil {
		c.Files = testFiles
	}
	return c
}
