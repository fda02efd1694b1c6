/*
 * Subcommands that replace the reference set-up's Python script and give
 * operators a real SPOP health check:
 *   spoa-jwt keygen --alg RS256|ES256|EdDSA|HS256 --kid KID [--out PREFIX]
 *   spoa-jwt sign --key FILE --claims JSON [--exp DURATION]
 *   spoa-jwt verify --jwks FILE [--issuer ISS] [--audience AUD] [--now EPOCH] TOKEN
 *   spoa-jwt healthcheck ADDR:PORT [--timeout MS]
 * Each returns the process exit status: 0 success, 1 failure (verify: the
 * token is not valid; healthcheck: the agent is not healthy), 2 usage.
 */
#ifndef CLI_H
#define CLI_H

/* Runs the subcommand named by argv[1] if there is one; returns -1 when
 * argv[1] is not a subcommand. */
int cli_run(int argc, char **argv);

#endif
