/* Command-line value parsing shared by the daemon and the tools. */
#include "common/cli.h"

#include <errno.h>
#include <stdlib.h>

int
cli_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9' || hi > (unsigned)-1)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int
cli_parse_fraction(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
		return -EINVAL;
	*out = v;
	return 0;
}
