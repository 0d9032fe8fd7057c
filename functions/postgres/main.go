// Command postgres is the rotation Lambda for PostgreSQL credentials (RDS
// PostgreSQL, Aurora PostgreSQL) in AWS's secret format (see
// shared/providers/postgres): alternating users when the secret names a
// master secret (masterarn or master_secret_arn), the user's own password
// otherwise. DUALKEY_DB_CA_BUNDLE names a PEM file of CA certificates
// packaged with the function (for RDS, the global bundle) that it trusts
// besides the system's roots; servers are always verified unless a secret
// relaxes it with tls_mode. The function runs in the database's VPC and
// reaches Secrets Manager through a VPC endpoint or a NAT gateway.
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/postgres"
)

func main() { lambdamain.Start(postgres.FromEnv) }
