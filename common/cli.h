/* Command-line value parsing shared by the daemon and the tools: strict, bounded, no
 * silent wrap-around or trailing garbage. */
#ifndef P2PNS_COMMON_CLI_H
#define P2PNS_COMMON_CLI_H

/* A decimal number in [lo, hi], digits only. Returns 0 or -EINVAL. */
int cli_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned *out);
/* A number in [0, 1]. Returns 0 or -EINVAL. */
int cli_parse_fraction(const char *s, double *out);

#endif
