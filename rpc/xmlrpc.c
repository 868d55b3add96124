/* The XML-RPC dispatcher: parses a call with xmlrpc-c, checks the client's write access and
 * the arguments against the method's signatures, runs the handler and serialises its answer. */
#include "rpc/xmlrpc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

struct alt {
	char ret;
	uint8_t n;
	char args[RPC_MAX_ARGS];
};

struct entry {
	const struct rpc_method *m;
	uint8_t nalts;
	struct alt alts[RPC_MAX_ALTS];
};

struct rpc_dispatcher {
	struct entry *entries;		/* the built-ins first, then the caller's */
	size_t n_entries;
	struct rpc_net allow[RPC_MAX_ALLOW];
	size_t n_allow;
	unsigned max_calls;
	struct rpc_call *live;		/* unfinished calls, detached or not */
	size_t n_live;
	uint64_t calls, faults, refused;
};

struct rpc_call {
	struct rpc_dispatcher *d;	/* NULL once the dispatcher is gone */
	struct rpc_call *prev, *next;	/* d->live */
	rpc_done_fn done;		/* NULL once the waiter is gone */
	void *done_arg;
	bool in_handler;		/* finished now, freed when the handler returns */
	bool finished;
	const char *method;		/* xmlrpc-c's copy of the name */
	struct kbr_addr peer;
};

/* Served when not even a fault can be serialised (out of memory). */
static const char oom_fault[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
    "<methodResponse>\r\n<fault>\r\n<value><struct>\r\n"
    "<member><name>faultCode</name>\r\n<value><i4>-500</i4></value></member>\r\n"
    "<member><name>faultString</name>\r\n<value><string>out of memory</string></value>"
    "</member>\r\n</struct></value>\r\n</fault>\r\n</methodResponse>\r\n";

static void sys_list(void *, struct rpc_call *, const struct rpc_arg *, size_t);
static void sys_help(void *, struct rpc_call *, const struct rpc_arg *, size_t);
static void sys_signature(void *, struct rpc_call *, const struct rpc_arg *, size_t);

static const struct rpc_method builtins[] = {
	{ "system.listMethods", "A:", "Lists the names of the methods this server offers.",
	    false, sys_list, NULL },
	{ "system.methodHelp", "s:s", "Returns the help text of the named method.",
	    false, sys_help, NULL },
	{ "system.methodSignature", "A:s", "Returns the signatures of the named method: an "
	    "array of arrays of type names, the result's type first.", false, sys_signature,
	    NULL },
};
enum { N_BUILTINS = sizeof(builtins) / sizeof(builtins[0]) };

/* xmlrpc-c hands out malloc'ed strings as const char *. */
static void
free_const(const void *p)
{
	free((void *)(uintptr_t)p);
}

static bool
sig_letter(char c)
{
	return c != '\0' && strchr("ibds6AS", c) != NULL;
}

static const char *
letter_name(char c)
{
	switch (c) {
	case 'i': return "int";
	case 'b': return "boolean";
	case 'd': return "double";
	case 's': return "string";
	case '6': return "base64";
	case 'A': return "array";
	default: return "struct";
	}
}

static const char *
value_name(xmlrpc_value *v)
{
	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_INT: return "int";
	case XMLRPC_TYPE_I8: return "i8";
	case XMLRPC_TYPE_BOOL: return "boolean";
	case XMLRPC_TYPE_DOUBLE: return "double";
	case XMLRPC_TYPE_DATETIME: return "dateTime";
	case XMLRPC_TYPE_STRING: return "string";
	case XMLRPC_TYPE_BASE64: return "base64";
	case XMLRPC_TYPE_ARRAY: return "array";
	case XMLRPC_TYPE_STRUCT: return "struct";
	case XMLRPC_TYPE_NIL: return "nil";
	default: return "unknown";
	}
}

/* "R:ARGS" alternatives separated by commas, letters from sig_letter. */
static int
parse_signature(struct entry *e, const char *p)
{
	if (p == NULL)
		return -EINVAL;
	for (e->nalts = 0;; p++) {
		struct alt *a;

		if (e->nalts == RPC_MAX_ALTS || !sig_letter(p[0]) || p[1] != ':')
			return -EINVAL;
		a = &e->alts[e->nalts++];
		a->ret = p[0];
		a->n = 0;
		for (p += 2; *p != ',' && *p != '\0'; p++) {
			if (!sig_letter(*p) || a->n == RPC_MAX_ARGS)
				return -EINVAL;
			a->args[a->n++] = *p;
		}
		if (*p == '\0')
			return 0;
	}
}

static const struct entry *
find(const struct rpc_dispatcher *d, const char *name)
{
	for (size_t i = 0; i < d->n_entries; i++)
		if (strcmp(d->entries[i].m->name, name) == 0)
			return &d->entries[i];
	return NULL;
}

static int
add_entry(struct rpc_dispatcher *d, const struct rpc_method *m)
{
	struct entry *e = &d->entries[d->n_entries];
	size_t len;

	if (m->name == NULL || m->handler == NULL)
		return -EINVAL;
	len = strnlen(m->name, RPC_MAX_NAME + 1);
	if (len == 0 || len > RPC_MAX_NAME || find(d, m->name) != NULL)
		return -EINVAL;
	e->m = m;
	if (parse_signature(e, m->signature) != 0)
		return -EINVAL;
	d->n_entries++;
	return 0;
}

int
rpc_dispatcher_new(struct rpc_dispatcher **out, const struct rpc_method *methods, size_t n,
    const struct rpc_net *allow, size_t n_allow, unsigned max_calls)
{
	struct rpc_dispatcher *d;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if ((methods == NULL && n > 0) || n > RPC_MAX_METHODS || n_allow > RPC_MAX_ALLOW ||
	    (allow == NULL && n_allow > 0))
		return -EINVAL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	if ((d->entries = calloc(N_BUILTINS + n, sizeof(*d->entries))) == NULL) {
		free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < N_BUILTINS; i++)
		if ((rc = add_entry(d, &builtins[i])) != 0)
			goto fail;
	for (size_t i = 0; i < n; i++)
		if ((rc = add_entry(d, &methods[i])) != 0)
			goto fail;

	rc = -EINVAL;
	if (n_allow == 0) {
		if (rpc_net_parse(&d->allow[0], "127.0.0.0/8") != 0 ||
		    rpc_net_parse(&d->allow[1], "::1") != 0)
			goto fail;
		d->n_allow = 2;
	}
	for (size_t i = 0; i < n_allow; i++) {
		unsigned max = allow[i].addr.family == KBR_AF_INET ? 32 :
		    allow[i].addr.family == KBR_AF_INET6 ? 128 : 0;

		if (max == 0 || allow[i].prefix > max)
			goto fail;
		d->allow[d->n_allow++] = allow[i];
	}
	d->max_calls = max_calls != 0 ? max_calls : RPC_MAX_CALLS;

	/* Per process in xmlrpc-c; every dispatcher wants the same values. The size limit is
	 * the HTTP body limit, so HTTP decides first and says so with 413. */
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, RPC_MAX_BODY);
	xmlrpc_limit_set(XMLRPC_NESTING_LIMIT_ID, RPC_MAX_NESTING);
	*out = d;
	return 0;
fail:
	free(d->entries);
	free(d);
	return rc;
}

static void
call_free(struct rpc_call *c)
{
	struct rpc_dispatcher *d = c->d;

	if (d != NULL) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			d->live = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		d->n_live--;
	}
	free_const(c->method);
	free(c);
}

void
rpc_dispatcher_free(struct rpc_dispatcher *d)
{
	struct rpc_call *c, *next;

	if (d == NULL)
		return;
	for (c = d->live; c != NULL; c = next) {
		next = c->next;
		c->d = NULL;
		c->prev = c->next = NULL;
		c->done = NULL;
		c->done_arg = NULL;
	}
	free(d->entries);
	free(d);
}

/* xmlrpc-c writes control characters in strings as they are, which no XML parser takes. */
static bool
xml_clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_' || c == '.' || c == ':' || (unsigned char)c >= 0x80;
}

/* Whether the text of an i8 element, p up to the end tag that must follow it, is one that
 * xmlrpc-c takes: empty (a plain fault) or an optional sign and digits within 64 bits. */
static bool
i8_text_ok(const char *p, const char *end)
{
	const uint64_t max = (uint64_t)INT64_MAX;
	bool sign = false, neg = false;
	uint64_t v = 0;
	size_t digits = 0;

	if (p < end && (*p == '+' || *p == '-')) {
		sign = true;
		neg = *p++ == '-';
	}
	for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
		if (v > (max + neg - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return (digits > 0 || !sign) && end - p >= 2 && p[0] == '<' && p[1] == '/';
}

/*
 * xmlrpc-c 1.33 crashes on an <i8> (or <ex:i8>) whose text is not a 64-bit integer: the
 * fault it formats lacks an argument. Such bodies are refused before it parses them, and so
 * is whatever could hide an i8 element from this byte scan: NUL bytes (UTF-16) and a
 * document type declaration (entities; they also let a small body expand without bound).
 * Markup-like text in comments or CDATA is judged as markup. NULL, or why the body is refused.
 */
static const char *
body_refused(const char *p, size_t len)
{
	static const char *const tags[] = {"<i8", "<ex:i8"};
	const char *end = p + len;

	if (memchr(p, '\0', len) != NULL)
		return "it holds NUL bytes (UTF-8 only)";
	for (const char *lt = p; (lt = memchr(lt, '<', (size_t)(end - lt))) != NULL; lt++) {
		if ((size_t)(end - lt) >= 9 && memcmp(lt, "<!DOCTYPE", 9) == 0)
			return "document type declarations are not served";
		for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
			size_t n = strlen(tags[t]);
			const char *q = lt + n;

			if ((size_t)(end - lt) < n || memcmp(lt, tags[t], n) != 0 ||
			    (q < end && name_char(*q)))
				continue;
			while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
				q++;
			if (end - q >= 2 && q[0] == '/' && q[1] == '>')
				continue;
			if (q == end)
				break;
			if (*q != '>' || !i8_text_ok(q + 1, end))
				return "an <i8> that is not a plain 64-bit integer";
		}
	}
	return NULL;
}

/* Serialises a result (result != NULL) or a fault and hands it to done. */
static void
answer(struct rpc_dispatcher *d, rpc_done_fn done, void *arg, xmlrpc_value *result,
    int code, const char *msg)
{
	xmlrpc_env env, fault;
	xmlrpc_mem_block *out;

	xmlrpc_env_init(&env);
	xmlrpc_env_init(&fault);
	out = xmlrpc_mem_block_new(&env, 0);
	if (out != NULL && result != NULL) {
		xmlrpc_serialize_response(&env, out, result);
		if (!env.fault_occurred && !xml_clean(xmlrpc_mem_block_contents(out),
		    xmlrpc_mem_block_size(out)))
			xmlrpc_env_set_fault(&env, RPC_FAULT_INTERNAL, "it holds characters XML "
			    "cannot carry");
		if (env.fault_occurred) {
			/* The client learns why instead of getting half a document. */
			xmlrpc_env_set_fault_formatted(&fault, RPC_FAULT_INTERNAL,
			    "cannot serialise the result: %s", env.fault_string);
			xmlrpc_env_clean(&env);
			xmlrpc_env_init(&env);
			xmlrpc_mem_block_free(out);
			out = xmlrpc_mem_block_new(&env, 0);
		}
	} else if (result == NULL) {
		/* xmlrpc-c forces the text to UTF-8 without control characters. */
		xmlrpc_env_set_fault(&fault, code, msg);
	}
	if (out != NULL && fault.fault_occurred)
		xmlrpc_serialize_fault(&env, out, &fault);

	if (d != NULL && (fault.fault_occurred || out == NULL || env.fault_occurred))
		d->faults++;
	if (out == NULL || env.fault_occurred)
		done(arg, oom_fault, sizeof(oom_fault) - 1);
	else
		done(arg, xmlrpc_mem_block_contents(out), xmlrpc_mem_block_size(out));
	if (out != NULL)
		xmlrpc_mem_block_free(out);
	xmlrpc_env_clean(&fault);
	xmlrpc_env_clean(&env);
}

static void
answer_fault_v(struct rpc_dispatcher *d, rpc_done_fn done, void *arg, int code,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void
answer_fault_v(struct rpc_dispatcher *d, rpc_done_fn done, void *arg, int code,
    const char *fmt, va_list ap)
{
	char msg[RPC_MAX_FAULT_MSG];

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		snprintf(msg, sizeof(msg), "fault %d", code);
	answer(d, done, arg, NULL, code, msg);
}

static void
answer_fault(struct rpc_dispatcher *d, rpc_done_fn done, void *arg, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
answer_fault(struct rpc_dispatcher *d, rpc_done_fn done, void *arg, int code,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	answer_fault_v(d, done, arg, code, fmt, ap);
	va_end(ap);
}

/* The handler is done with the call; inside the handler it lives on until rpc_dispatch
 * has looked at it. */
static void
finished(struct rpc_call *c)
{
	if (c->in_handler)
		c->finished = true;
	else
		call_free(c);
}

void
rpc_reply(struct rpc_call *c, xmlrpc_value *result)
{
	rpc_done_fn done;

	if (c == NULL) {
		if (result != NULL)
			xmlrpc_DECREF(result);
		return;
	}
	/* Detached before done runs, so that done may detach or abort without harm. */
	done = c->done;
	c->done = NULL;
	if (done != NULL && result != NULL)
		answer(c->d, done, c->done_arg, result, 0, NULL);
	else if (done != NULL)
		answer(c->d, done, c->done_arg, NULL, RPC_FAULT_INTERNAL,
		    "the method returned no result");
	if (result != NULL)
		xmlrpc_DECREF(result);
	finished(c);
}

void
rpc_fault(struct rpc_call *c, int code, const char *fmt, ...)
{
	rpc_done_fn done;
	va_list ap;

	if (c == NULL)
		return;
	done = c->done;
	c->done = NULL;
	if (done != NULL) {
		va_start(ap, fmt);
		answer_fault_v(c->d, done, c->done_arg, code, fmt, ap);
		va_end(ap);
	}
	finished(c);
}

void
rpc_call_detach(struct rpc_call *c)
{
	if (c == NULL)
		return;
	c->done = NULL;
	c->done_arg = NULL;
}

void
rpc_call_abort(struct rpc_call *c, int code, const char *fmt, ...)
{
	rpc_done_fn done;
	va_list ap;

	if (c == NULL || c->done == NULL)
		return;
	done = c->done;
	c->done = NULL;
	va_start(ap, fmt);
	answer_fault_v(c->d, done, c->done_arg, code, fmt, ap);
	va_end(ap);
	c->done_arg = NULL;
}

const struct kbr_addr *
rpc_call_peer(const struct rpc_call *c)
{
	return &c->peer;
}

const char *
rpc_call_method(const struct rpc_call *c)
{
	return c->method;
}

void
rpc_dispatcher_stats(const struct rpc_dispatcher *d, struct rpc_stats *out)
{
	out->calls = d->calls;
	out->faults = d->faults;
	out->refused_access = d->refused;
	out->in_flight = d->n_live;
}

static bool
write_allowed(const struct rpc_dispatcher *d, const struct kbr_addr *peer)
{
	for (size_t i = 0; i < d->n_allow; i++)
		if (rpc_net_contains(&d->allow[i], peer))
			return true;
	return false;
}

static void
format_ip(const struct kbr_addr *a, char *out, size_t len)
{
	struct kbr_addr u;

	rpc_addr_unmap(&u, a);
	if (u.family != KBR_AF_INET && u.family != KBR_AF_INET6)
		snprintf(out, len, "an unknown address");
	else if (inet_ntop(u.family == KBR_AF_INET ? AF_INET : AF_INET6, u.ip, out,
	    (socklen_t)len) == NULL)
		snprintf(out, len, "?");
}

/* An <i8> is as good as an <int> when it fits. */
static bool
fits(char want, xmlrpc_value *v)
{
	xmlrpc_type t = xmlrpc_value_type(v);
	xmlrpc_env env;
	xmlrpc_int64 x = 0;
	bool ok;

	switch (want) {
	case 'i':
		if (t != XMLRPC_TYPE_I8)
			return t == XMLRPC_TYPE_INT;
		xmlrpc_env_init(&env);
		xmlrpc_read_i8(&env, v, &x);
		ok = !env.fault_occurred && x >= INT32_MIN && x <= INT32_MAX;
		xmlrpc_env_clean(&env);
		return ok;
	case 'b': return t == XMLRPC_TYPE_BOOL;
	case 'd': return t == XMLRPC_TYPE_DOUBLE;
	case 's': return t == XMLRPC_TYPE_STRING;
	case '6': return t == XMLRPC_TYPE_BASE64 || t == XMLRPC_TYPE_STRING;
	case 'A': return t == XMLRPC_TYPE_ARRAY;
	case 'S': return t == XMLRPC_TYPE_STRUCT;
	default: return false;
	}
}

/* "takes 2 or 3 arguments": the distinct counts of the alternatives, in order. */
static void
count_message(const struct entry *e, const char *name, size_t got, char *msg, size_t len)
{
	unsigned counts[RPC_MAX_ALTS];
	char list[RPC_MAX_ALTS * 8] = "";
	size_t nc = 0, used = 0;

	for (size_t i = 0; i < e->nalts; i++) {
		size_t j;

		for (j = 0; j < nc && counts[j] != e->alts[i].n; j++)
			;
		if (j == nc)
			counts[nc++] = e->alts[i].n;
	}
	for (size_t i = 0; i < nc && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%u",
		    i == 0 ? "" : i + 1 == nc ? " or " : ", ", counts[i]);
	snprintf(msg, len, "%.*s: takes %s argument%s, got %zu", RPC_MAX_NAME, name, list,
	    nc == 1 && counts[0] == 1 ? "" : "s", got);
}

/* The first alternative the arguments fit, or NULL with msg saying why none did. */
static const struct alt *
match(const struct entry *e, const char *name, xmlrpc_value **vals, size_t n, char *msg,
    size_t len)
{
	const struct alt *near = NULL;
	size_t bad = 0;

	for (size_t i = 0; i < e->nalts; i++) {
		const struct alt *a = &e->alts[i];
		size_t k;

		if (a->n != n)
			continue;
		for (k = 0; k < n && fits(a->args[k], vals[k]); k++)
			;
		if (k == n)
			return a;
		if (near == NULL) {
			near = a;
			bad = k;
		}
	}
	if (near == NULL)
		count_message(e, name, n, msg, len);
	else
		snprintf(msg, len, "%.*s: argument %zu must be %s, got %s", RPC_MAX_NAME, name,
		    bad + 1, near->args[bad] == '6' ? "base64 or string" :
		    letter_name(near->args[bad]), value_name(vals[bad]));
	return NULL;
}

/* Reads v as the letter it matched; strings and base64 get a NUL-terminated copy in
 * *owned, freed after the handler returns. */
static int
read_arg(struct rpc_arg *a, char letter, xmlrpc_value *v, const void **owned)
{
	xmlrpc_env env;
	const char *s;
	const unsigned char *b;
	unsigned char *nb;
	xmlrpc_int64 i8;
	int i;
	xmlrpc_bool bo;
	size_t n;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	a->type = letter;
	a->value = v;
	xmlrpc_env_init(&env);
	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_INT:
		xmlrpc_read_int(&env, v, &i);
		a->i = i;
		break;
	case XMLRPC_TYPE_I8:
		xmlrpc_read_i8(&env, v, &i8);
		a->i = i8;
		break;
	case XMLRPC_TYPE_BOOL:
		xmlrpc_read_bool(&env, v, &bo);
		a->i = bo != 0;
		break;
	case XMLRPC_TYPE_DOUBLE:
		xmlrpc_read_double(&env, v, &a->d);
		break;
	case XMLRPC_TYPE_STRING:
		xmlrpc_read_string_lp(&env, v, &n, &s);
		if (!env.fault_occurred) {
			*owned = s;
			a->bytes = (const uint8_t *)s;
			a->len = n;
		}
		break;
	case XMLRPC_TYPE_BASE64:
		xmlrpc_read_base64(&env, v, &n, &b);
		if (env.fault_occurred)
			break;
		/* xmlrpc-c's copy is malloc'ed without a terminator: room for one. */
		if ((nb = realloc((void *)(uintptr_t)b, n + 1)) == NULL) {
			free_const(b);
			rc = -ENOMEM;
			break;
		}
		nb[n] = '\0';
		*owned = nb;
		a->bytes = nb;
		a->len = n;
		break;
	default:
		break;
	}
	if (env.fault_occurred)
		rc = -ENOMEM;
	xmlrpc_env_clean(&env);
	return rc;
}

static struct rpc_call *
call_new(struct rpc_dispatcher *d, const char *method, const struct kbr_addr *peer,
    rpc_done_fn done, void *arg)
{
	struct rpc_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->d = d;
	c->method = method;
	if (peer != NULL)
		c->peer = *peer;
	c->done = done;
	c->done_arg = arg;
	c->next = d->live;
	if (d->live != NULL)
		d->live->prev = c;
	d->live = c;
	d->n_live++;
	return c;
}

int
rpc_dispatch(struct rpc_dispatcher *d, const uint8_t *body, size_t len,
    const struct kbr_addr *peer, rpc_done_fn done, void *arg, struct rpc_call **pending)
{
	xmlrpc_env env;
	const char *name = NULL;
	xmlrpc_value *params = NULL, *vals[RPC_MAX_ARGS];
	const void *owned[RPC_MAX_ARGS] = { NULL };
	struct rpc_arg args[RPC_MAX_ARGS];
	const struct entry *e;
	const struct alt *a;
	struct rpc_call *c;
	char msg[RPC_MAX_FAULT_MSG], ip[INET6_ADDRSTRLEN];
	const char *why;
	size_t n = 0, nvals = 0;
	int rc = 0;

	if (pending != NULL)
		*pending = NULL;
	if (d == NULL || done == NULL || (body == NULL && len > 0))
		return -EINVAL;
	xmlrpc_env_init(&env);
	if (len > RPC_MAX_BODY) {
		answer_fault(d, done, arg, RPC_FAULT_PARSE, "request is not an XML-RPC call: "
		    "%zu bytes are over the limit of %d", len, RPC_MAX_BODY);
		goto out;
	}
	if (body != NULL && (why = body_refused((const char *)body, len)) != NULL) {
		answer_fault(d, done, arg, RPC_FAULT_PARSE, "request is not an XML-RPC call: %s",
		    why);
		goto out;
	}
	xmlrpc_parse_call(&env, body != NULL ? (const char *)body : "", len, &name, &params);
	if (env.fault_occurred) {
		answer_fault(d, done, arg, RPC_FAULT_PARSE, "request is not an XML-RPC call: %s",
		    env.fault_string);
		goto out;
	}
	if ((e = find(d, name)) == NULL) {
		answer_fault(d, done, arg, RPC_FAULT_NO_METHOD, "unknown method '%.*s'",
		    RPC_MAX_NAME, name);
		goto out;
	}
	if (e->m->writing && (peer == NULL || !write_allowed(d, peer))) {
		d->refused++;
		if (peer != NULL)
			format_ip(peer, ip, sizeof(ip));
		else
			snprintf(ip, sizeof(ip), "an unknown client");
		answer_fault(d, done, arg, RPC_FAULT_ACCESS, "writing method '%s' is refused for "
		    "%s: not in the write-allow list", e->m->name, ip);
		goto out;
	}

	n = (size_t)xmlrpc_array_size(&env, params);
	if (env.fault_occurred)
		goto internal;
	nvals = n < RPC_MAX_ARGS ? n : RPC_MAX_ARGS;
	for (size_t i = 0; i < nvals; i++) {
		xmlrpc_array_read_item(&env, params, (unsigned)i, &vals[i]);
		if (env.fault_occurred) {
			nvals = i;
			goto internal;
		}
	}
	if (n > RPC_MAX_ARGS) {
		/* No signature takes that many: only the count is worth telling. */
		count_message(e, name, n, msg, sizeof(msg));
		a = NULL;
	} else {
		a = match(e, name, vals, n, msg, sizeof(msg));
	}
	if (a == NULL) {
		answer_fault(d, done, arg, RPC_FAULT_PARAMS, "%s", msg);
		goto out;
	}
	if (d->n_live >= d->max_calls) {
		answer_fault(d, done, arg, RPC_FAULT_BUSY, "too many calls in flight (%u); try "
		    "again later", d->max_calls);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (read_arg(&args[i], a->args[i], vals[i], &owned[i]) != 0)
			goto internal;
	if ((c = call_new(d, name, peer, done, arg)) == NULL)
		goto internal;
	name = NULL;			/* the call's now */
	d->calls++;

	c->in_handler = true;
	e->m->handler(e->m->arg, c, args, n);
	c->in_handler = false;
	if (c->finished) {
		call_free(c);
	} else if (pending != NULL) {
		*pending = c;
		rc = -EINPROGRESS;
	} else {
		rpc_call_detach(c);
	}
	goto out;

internal:
	xmlrpc_env_clean(&env);
	xmlrpc_env_init(&env);
	answer_fault(d, done, arg, RPC_FAULT_INTERNAL, "out of memory");
out:
	for (size_t i = 0; i < RPC_MAX_ARGS; i++)
		free_const(owned[i]);
	for (size_t i = 0; i < nvals; i++)
		xmlrpc_DECREF(vals[i]);
	if (params != NULL)
		xmlrpc_DECREF(params);
	free_const(name);
	xmlrpc_env_clean(&env);
	return rc;
}

/* The built-in methods. */

static void
append_string(xmlrpc_env *env, xmlrpc_value *array, const char *s)
{
	xmlrpc_value *v;

	if (env->fault_occurred)
		return;
	v = xmlrpc_string_new(env, s);
	if (env->fault_occurred)
		return;
	xmlrpc_array_append_item(env, array, v);
	xmlrpc_DECREF(v);
}

static void
reply_built(struct rpc_call *call, xmlrpc_env *env, xmlrpc_value *v)
{
	if (env->fault_occurred) {
		if (v != NULL)
			xmlrpc_DECREF(v);
		rpc_fault(call, RPC_FAULT_INTERNAL, "%s", env->fault_string);
	} else {
		rpc_reply(call, v);
	}
	xmlrpc_env_clean(env);
}

static void
sys_list(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	const struct rpc_dispatcher *d = call->d;
	xmlrpc_env env;
	xmlrpc_value *list;

	(void)arg;
	(void)args;
	(void)nargs;
	xmlrpc_env_init(&env);
	list = xmlrpc_array_new(&env);
	for (size_t i = 0; i < d->n_entries; i++)
		append_string(&env, list, d->entries[i].m->name);
	reply_built(call, &env, list);
}

static const struct entry *
named(struct rpc_call *call, const struct rpc_arg *args)
{
	const struct entry *e = find(call->d, (const char *)args[0].bytes);

	if (e == NULL)
		rpc_fault(call, RPC_FAULT_NO_METHOD, "unknown method '%.*s'", RPC_MAX_NAME,
		    (const char *)args[0].bytes);
	return e;
}

static void
sys_help(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	const struct entry *e;
	xmlrpc_env env;
	xmlrpc_value *v;

	(void)arg;
	(void)nargs;
	if ((e = named(call, args)) == NULL)
		return;
	xmlrpc_env_init(&env);
	v = xmlrpc_string_new(&env, e->m->help != NULL ? e->m->help : "");
	reply_built(call, &env, v);
}

static void
sys_signature(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	const struct entry *e;
	xmlrpc_env env;
	xmlrpc_value *sigs, *one;

	(void)arg;
	(void)nargs;
	if ((e = named(call, args)) == NULL)
		return;
	xmlrpc_env_init(&env);
	sigs = xmlrpc_array_new(&env);
	for (size_t i = 0; i < e->nalts && !env.fault_occurred; i++) {
		const struct alt *a = &e->alts[i];

		one = xmlrpc_array_new(&env);
		if (env.fault_occurred)
			break;
		append_string(&env, one, letter_name(a->ret));
		for (size_t k = 0; k < a->n; k++)
			append_string(&env, one, letter_name(a->args[k]));
		xmlrpc_array_append_item(&env, sigs, one);
		xmlrpc_DECREF(one);
	}
	reply_built(call, &env, sigs);
}
