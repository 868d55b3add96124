/* Tests for rpc/xmlrpc.c and rpc/net.c without HTTP: real XML-RPC bodies through the
 * dispatcher, answers parsed back with xmlrpc-c; argument checks, access, built-ins, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "rpc/xmlrpc.h"

enum {
	REQ_MAX = 8192,
	DEEP = 40,			/* nesting over RPC_MAX_NESTING */
	SHALLOW = 5,
};

#define CALL_HEAD "<?xml version=\"1.0\"?><methodCall><methodName>"
#define P_STR(x) "<param><value><string>" x "</string></value></param>"
#define P_INT(x) "<param><value><int>" x "</int></value></param>"
#define P_I8(x) "<param><value><i8>" x "</i8></value></param>"
#define P_B64(x) "<param><value><base64>" x "</base64></value></param>"

/* The last answer the dispatcher gave. */
static struct {
	int n;				/* answers since reset */
	char *xml;
	size_t len;
} ans;

static struct rpc_call *held[4];	/* calls the async method keeps */
static size_t n_held;

static void
on_done(void *arg, const char *xml, size_t len)
{
	(void)arg;
	free(ans.xml);
	ans.xml = malloc(len + 1);
	assert_non_null(ans.xml);
	memcpy(ans.xml, xml, len);
	ans.xml[len] = '\0';
	ans.len = len;
	ans.n++;
}

static void
reset(void)
{
	free(ans.xml);
	memset(&ans, 0, sizeof(ans));
}

static xmlrpc_value *
int_value(int v)
{
	xmlrpc_env env;
	xmlrpc_value *r;

	xmlrpc_env_init(&env);
	r = xmlrpc_int_new(&env, v);
	assert_false(env.fault_occurred);
	xmlrpc_env_clean(&env);
	return r;
}

static void
m_echo(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	xmlrpc_env env;
	xmlrpc_value *v;

	(void)arg;
	assert_int_equal(nargs, 1);
	assert_int_equal(args[0].type, 's');
	assert_int_equal(args[0].bytes[args[0].len], '\0');
	xmlrpc_env_init(&env);
	v = xmlrpc_string_new_lp(&env, args[0].len, (const char *)args[0].bytes);
	xmlrpc_env_clean(&env);
	rpc_reply(call, v);
}

static void
m_add(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	assert_int_equal(nargs, 2);
	rpc_reply(call, int_value((int)(args[0].i + args[1].i)));
}

/* Returns the length of its bytes and checks their terminator and first byte. */
static void
m_blob(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	assert_int_equal(nargs, 1);
	assert_int_equal(args[0].type, '6');
	assert_int_equal(args[0].bytes[args[0].len], '\0');
	if (args[0].len > 0)
		assert_int_equal(args[0].bytes[0], 'h');
	rpc_reply(call, int_value((int)args[0].len));
}

static void
m_later(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	(void)args;
	(void)nargs;
	assert_true(n_held < sizeof(held) / sizeof(held[0]));
	held[n_held++] = call;
}

static void
m_zero(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	(void)args;
	(void)nargs;
	rpc_reply(call, int_value(0));
}

static void
m_fail(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	(void)args;
	(void)nargs;
	rpc_fault(call, RPC_FAULT_NOT_FOUND, "Name not found");
}

static void
m_nothing(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	(void)args;
	(void)nargs;
	rpc_reply(call, NULL);
}

/* A string xmlrpc-c takes but would write as XML nobody can read. */
static void
m_control(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	xmlrpc_env env;
	xmlrpc_value *v;

	(void)arg;
	(void)args;
	(void)nargs;
	xmlrpc_env_init(&env);
	v = xmlrpc_string_new_lp(&env, 3, "a\001b");
	assert_false(env.fault_occurred);
	xmlrpc_env_clean(&env);
	rpc_reply(call, v);
}

static const struct rpc_method methods[] = {
	{ "echo", "s:s", "Returns its string.", false, m_echo, NULL },
	{ "add", "i:ii", "Adds two ints.", false, m_add, NULL },
	{ "blob", "i:6", "Length of its bytes.", false, m_blob, NULL },
	{ "later", "i:", "Answers when the test says so.", false, m_later, NULL },
	{ "register", "i:6iii6i", "Registers a name.", true, m_zero, NULL },
	{ "multi", "i:s,i:si", NULL, false, m_zero, NULL },
	{ "nested", "i:A", "Takes an array.", false, m_zero, NULL },
	{ "fail", "i:", "Always not found.", false, m_fail, NULL },
	{ "nothing", "i:", "Replies with no value.", false, m_nothing, NULL },
	{ "control", "s:", "Replies with a control character.", false, m_control, NULL },
};
enum { N_METHODS = sizeof(methods) / sizeof(methods[0]) };

static struct kbr_addr
addr(const char *ip)
{
	struct kbr_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, ip, a.ip) == 1) {
		a.family = KBR_AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, a.ip), 1);
		a.family = KBR_AF_INET6;
	}
	a.port = 40000;
	return a;
}

static struct rpc_dispatcher *
dispatcher(void)
{
	struct rpc_dispatcher *d;

	assert_int_equal(rpc_dispatcher_new(&d, methods, N_METHODS, NULL, 0, 0), 0);
	return d;
}

/* Sends "<methodName>method</methodName><params>params</params>" from ip. */
static int
call_from(struct rpc_dispatcher *d, const char *ip, const char *method, const char *params,
    struct rpc_call **pending)
{
	char req[REQ_MAX];
	struct kbr_addr peer = addr(ip);
	int n;

	n = snprintf(req, sizeof(req), CALL_HEAD "%s</methodName><params>%s</params>"
	    "</methodCall>", method, params);
	assert_true(n > 0 && (size_t)n < sizeof(req));
	reset();
	return rpc_dispatch(d, (const uint8_t *)req, (size_t)n, &peer, on_done, NULL, pending);
}

static void
call(struct rpc_dispatcher *d, const char *method, const char *params)
{
	assert_int_equal(call_from(d, "127.0.0.1", method, params, NULL), 0);
	assert_int_equal(ans.n, 1);
}

/* The answer's result (a new reference), failing the test on a fault. */
static xmlrpc_value *
result(void)
{
	xmlrpc_env env;
	xmlrpc_value *v = NULL;
	const char *fstr = NULL;
	int fcode = 0;

	assert_int_equal(ans.n, 1);
	xmlrpc_env_init(&env);
	xmlrpc_parse_response2(&env, ans.xml, ans.len, &v, &fcode, &fstr);
	assert_false(env.fault_occurred);
	if (fstr != NULL)
		fail_msg("fault %d: %s", fcode, fstr);
	assert_non_null(v);
	xmlrpc_env_clean(&env);
	return v;
}

static int
result_int(void)
{
	xmlrpc_env env;
	xmlrpc_value *v = result();
	int i = -1;

	xmlrpc_env_init(&env);
	xmlrpc_read_int(&env, v, &i);
	assert_false(env.fault_occurred);
	xmlrpc_env_clean(&env);
	xmlrpc_DECREF(v);
	return i;
}

/* Checks the answer is a fault with code and, if msg is not NULL, exactly that text. */
static void
expect_fault(int code, const char *msg)
{
	xmlrpc_env env;
	xmlrpc_value *v = NULL;
	const char *fstr = NULL;
	int fcode = 0;

	assert_int_equal(ans.n, 1);
	xmlrpc_env_init(&env);
	xmlrpc_parse_response2(&env, ans.xml, ans.len, &v, &fcode, &fstr);
	assert_false(env.fault_occurred);
	assert_null(v);
	assert_non_null(fstr);
	assert_int_equal(fcode, code);
	if (msg != NULL)
		assert_string_equal(fstr, msg);
	free((void *)(uintptr_t)fstr);
	xmlrpc_env_clean(&env);
}

static bool
fault_starts(int code, const char *prefix)
{
	xmlrpc_env env;
	xmlrpc_value *v = NULL;
	const char *fstr = NULL;
	int fcode = 0;
	bool ok;

	xmlrpc_env_init(&env);
	xmlrpc_parse_response2(&env, ans.xml, ans.len, &v, &fcode, &fstr);
	ok = !env.fault_occurred && v == NULL && fstr != NULL && fcode == code &&
	    strncmp(fstr, prefix, strlen(prefix)) == 0;
	if (v != NULL)
		xmlrpc_DECREF(v);
	free((void *)(uintptr_t)fstr);
	xmlrpc_env_clean(&env);
	return ok;
}

static void
sync_call(void **state)
{
	struct rpc_dispatcher *d = dispatcher();
	struct rpc_stats st;
	xmlrpc_env env;
	xmlrpc_value *v;
	const char *s;

	(void)state;
	call(d, "echo", P_STR("hello &amp; bye"));
	v = result();
	xmlrpc_env_init(&env);
	xmlrpc_read_string(&env, v, &s);
	assert_false(env.fault_occurred);
	assert_string_equal(s, "hello & bye");
	free((void *)(uintptr_t)s);
	xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);

	call(d, "add", P_INT("40") "<param><value><i4>2</i4></value></param>");
	assert_int_equal(result_int(), 42);
	/* an <i8> that fits is an int */
	call(d, "add", P_I8("-5") P_INT("2"));
	assert_int_equal(result_int(), -3);

	/* a handler's own fault goes through unchanged */
	call(d, "fail", "");
	expect_fault(RPC_FAULT_NOT_FOUND, "Name not found");
	call(d, "nothing", "");
	expect_fault(RPC_FAULT_INTERNAL, "the method returned no result");
	call(d, "control", "");
	expect_fault(RPC_FAULT_INTERNAL,
	    "cannot serialise the result: it holds characters XML cannot carry");

	memset(&st, 0, sizeof(st));
	rpc_dispatcher_stats(d, &st);
	assert_int_equal(st.calls, 6);
	assert_int_equal(st.faults, 3);
	assert_int_equal(st.in_flight, 0);
	rpc_dispatcher_free(d);
	reset();
}

static void
async_call(void **state)
{
	struct rpc_dispatcher *d = dispatcher();
	struct rpc_call *c = NULL;
	struct rpc_stats st;

	(void)state;
	n_held = 0;
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", &c), -EINPROGRESS);
	assert_non_null(c);
	assert_ptr_equal(c, held[0]);
	assert_int_equal(ans.n, 0);
	assert_string_equal(rpc_call_method(c), "later");
	assert_int_equal(rpc_call_peer(c)->port, 40000);
	rpc_dispatcher_stats(d, &st);
	assert_int_equal(st.in_flight, 1);

	rpc_reply(c, int_value(7));
	assert_int_equal(result_int(), 7);
	rpc_dispatcher_stats(d, &st);
	assert_int_equal(st.in_flight, 0);

	/* pending NULL: nobody waits, the later finish only frees */
	n_held = 0;
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", NULL), 0);
	assert_int_equal(ans.n, 0);
	rpc_fault(held[0], RPC_FAULT_FAILED, "late");
	assert_int_equal(ans.n, 0);
	rpc_dispatcher_free(d);
	reset();
}

static void
detach_and_abort(void **state)
{
	struct rpc_dispatcher *d = dispatcher();
	struct rpc_call *c1, *c2, *c3;
	struct rpc_stats st;

	(void)state;
	n_held = 0;
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", &c1), -EINPROGRESS);
	rpc_call_detach(c1);
	rpc_reply(c1, int_value(1));
	assert_int_equal(ans.n, 0);

	/* a timeout: the waiter gets the fault now, the handler's finish later is dropped */
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", &c2), -EINPROGRESS);
	rpc_call_abort(c2, RPC_FAULT_FAILED, "timed out after %d s", 30);
	expect_fault(RPC_FAULT_FAILED, "timed out after 30 s");
	rpc_call_abort(c2, RPC_FAULT_FAILED, "twice");
	assert_int_equal(ans.n, 1);
	rpc_dispatcher_stats(d, &st);
	assert_int_equal(st.in_flight, 1);
	rpc_reply(c2, int_value(2));
	assert_int_equal(ans.n, 1);

	/* the dispatcher goes first: the handle stays valid and only frees itself */
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", &c3), -EINPROGRESS);
	rpc_dispatcher_free(d);
	assert_string_equal(rpc_call_method(c3), "later");
	rpc_reply(c3, int_value(3));
	assert_int_equal(ans.n, 0);
	reset();
}

static void
busy(void **state)
{
	struct rpc_dispatcher *d;
	struct rpc_call *c1, *c2;

	(void)state;
	assert_int_equal(rpc_dispatcher_new(&d, methods, N_METHODS, NULL, 0, 2), 0);
	n_held = 0;
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", &c1), -EINPROGRESS);
	assert_int_equal(call_from(d, "127.0.0.1", "later", "", &c2), -EINPROGRESS);
	call(d, "add", P_INT("1") P_INT("2"));
	expect_fault(RPC_FAULT_BUSY, NULL);
	assert_int_equal(n_held, 2);
	rpc_reply(c1, int_value(1));
	call(d, "add", P_INT("1") P_INT("2"));
	assert_int_equal(result_int(), 3);
	rpc_reply(c2, int_value(2));
	rpc_dispatcher_free(d);
	reset();
}

static void
wrong_count(void **state)
{
	struct rpc_dispatcher *d = dispatcher();

	(void)state;
	call(d, "echo", "");
	expect_fault(RPC_FAULT_PARAMS, "echo: takes 1 argument, got 0");
	call(d, "add", P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "add: takes 2 arguments, got 1");
	call(d, "multi", P_STR("a") P_INT("1") P_INT("2"));
	expect_fault(RPC_FAULT_PARAMS, "multi: takes 1 or 2 arguments, got 3");
	call(d, "later", P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "later: takes 0 arguments, got 1");
	/* more than any method may take */
	call(d, "add", P_INT("1") P_INT("1") P_INT("1") P_INT("1") P_INT("1") P_INT("1")
	    P_INT("1") P_INT("1") P_INT("1") P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "add: takes 2 arguments, got 10");
	rpc_dispatcher_free(d);
	reset();
}

static void
wrong_type(void **state)
{
	struct rpc_dispatcher *d = dispatcher();

	(void)state;
	call(d, "add", P_STR("x") P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "add: argument 1 must be int, got string");
	call(d, "register", P_STR("alice") P_STR("1") P_INT("0") P_INT("0") P_B64("AQID")
	    P_INT("60"));
	expect_fault(RPC_FAULT_PARAMS, "register: argument 2 must be int, got string");
	call(d, "register", P_STR("alice") P_INT("1") P_INT("0") P_INT("0") P_INT("5")
	    P_INT("60"));
	expect_fault(RPC_FAULT_PARAMS,
	    "register: argument 5 must be base64 or string, got int");
	call(d, "echo", P_B64("aGk="));
	expect_fault(RPC_FAULT_PARAMS, "echo: argument 1 must be string, got base64");
	call(d, "nested", "<param><value><struct></struct></value></param>");
	expect_fault(RPC_FAULT_PARAMS, "nested: argument 1 must be array, got struct");
	call(d, "add", "<param><value><boolean>1</boolean></value></param>" P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "add: argument 1 must be int, got boolean");
	/* an <i8> outside int range is not an int */
	call(d, "add", P_I8("4294967296") P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "add: argument 1 must be int, got i8");
	/* the second alternative matches: first match wins, the first mismatch is reported */
	call(d, "multi", P_STR("a") P_INT("1"));
	assert_int_equal(result_int(), 0);
	call(d, "multi", P_INT("1"));
	expect_fault(RPC_FAULT_PARAMS, "multi: argument 1 must be string, got int");
	rpc_dispatcher_free(d);
	reset();
}

static void
base64_and_string(void **state)
{
	struct rpc_dispatcher *d = dispatcher();

	(void)state;
	call(d, "blob", P_B64("aGVsbG8="));	/* "hello" */
	assert_int_equal(result_int(), 5);
	call(d, "blob", P_STR("hi there"));
	assert_int_equal(result_int(), 8);
	call(d, "blob", P_B64(""));
	assert_int_equal(result_int(), 0);
	/* a <value> without a type is a string */
	call(d, "blob", "<param><value>hey</value></param>");
	assert_int_equal(result_int(), 3);
	call(d, "register", P_STR("alice") P_INT("1") P_INT("0") P_INT("0") P_B64("AQID")
	    P_INT("60"));
	assert_int_equal(result_int(), 0);
	rpc_dispatcher_free(d);
	reset();
}

static void
unknown_and_garbage(void **state)
{
	struct rpc_dispatcher *d = dispatcher();
	struct kbr_addr peer = addr("127.0.0.1");
	static const char *bad[] = {
		"",
		"not xml at all",
		"<?xml version=\"1.0\"?><methodCall><methodName>echo</methodName>",
		"<?xml version=\"1.0\"?><methodResponse><params/></methodResponse>",
		"<?xml version=\"1.0\"?><methodCall><params></params></methodCall>",
		("<methodCall><methodName>echo</methodName><params><param><value><int>x</int>"
		    "</value></param></params></methodCall>"),
	};
	uint8_t *big;
	struct rpc_stats st;

	(void)state;
	call(d, "foo", "");
	expect_fault(RPC_FAULT_NO_METHOD, "unknown method 'foo'");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		assert_int_equal(rpc_dispatch(d, (const uint8_t *)bad[i], strlen(bad[i]), &peer,
		    on_done, NULL, NULL), 0);
		assert_int_equal(ans.n, 1);
		assert_true(fault_starts(RPC_FAULT_PARSE, "request is not an XML-RPC call: "));
	}
	reset();
	assert_int_equal(rpc_dispatch(d, NULL, 0, &peer, on_done, NULL, NULL), 0);
	assert_true(fault_starts(RPC_FAULT_PARSE, "request is not an XML-RPC call: "));

	big = calloc(RPC_MAX_BODY + 1, 1);
	assert_non_null(big);
	memset(big, ' ', RPC_MAX_BODY + 1);
	reset();
	assert_int_equal(rpc_dispatch(d, big, RPC_MAX_BODY + 1, &peer, on_done, NULL, NULL), 0);
	assert_true(fault_starts(RPC_FAULT_PARSE, "request is not an XML-RPC call: "));
	free(big);

	assert_int_equal(rpc_dispatch(d, NULL, 1, &peer, on_done, NULL, NULL), -EINVAL);
	assert_int_equal(rpc_dispatch(NULL, NULL, 0, &peer, on_done, NULL, NULL), -EINVAL);
	rpc_dispatcher_stats(d, &st);
	assert_int_equal(st.calls, 0);
	rpc_dispatcher_free(d);
	reset();
}

#define REGISTER_ARGS P_B64("YWxpY2U=") P_INT("1") P_INT("0") P_INT("0") P_B64("AQID") \
	P_INT("60")

static void
write_access(void **state)
{
	struct rpc_dispatcher *d = dispatcher();
	static const char *ok[] = { "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1" };
	struct rpc_stats st;

	(void)state;
	assert_int_equal(call_from(d, "192.0.2.1", "register", REGISTER_ARGS, NULL), 0);
	expect_fault(RPC_FAULT_ACCESS,
	    "writing method 'register' is refused for 192.0.2.1: not in the write-allow list");
	assert_int_equal(call_from(d, "::ffff:192.0.2.1", "register", REGISTER_ARGS, NULL), 0);
	expect_fault(RPC_FAULT_ACCESS,
	    "writing method 'register' is refused for 192.0.2.1: not in the write-allow list");
	assert_int_equal(call_from(d, "2001:db8::1", "register", REGISTER_ARGS, NULL), 0);
	expect_fault(RPC_FAULT_ACCESS, "writing method 'register' is refused for 2001:db8::1: "
	    "not in the write-allow list");
	/* access is checked before the arguments: nothing is told to a stranger */
	assert_int_equal(call_from(d, "192.0.2.1", "register", "", NULL), 0);
	expect_fault(RPC_FAULT_ACCESS, NULL);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(call_from(d, ok[i], "register", REGISTER_ARGS, NULL), 0);
		assert_int_equal(result_int(), 0);
	}
	/* reading methods answer anybody */
	assert_int_equal(call_from(d, "192.0.2.1", "add", P_INT("1") P_INT("1"), NULL), 0);
	assert_int_equal(result_int(), 2);
	reset();
	assert_int_equal(rpc_dispatch(d, (const uint8_t *)CALL_HEAD "register</methodName>"
	    "</methodCall>", strlen(CALL_HEAD "register</methodName></methodCall>"), NULL,
	    on_done, NULL, NULL), 0);
	expect_fault(RPC_FAULT_ACCESS, NULL);
	rpc_dispatcher_stats(d, &st);
	assert_int_equal(st.refused_access, 5);
	rpc_dispatcher_free(d);
	reset();
}

static void
custom_allow(void **state)
{
	struct rpc_dispatcher *d;
	struct rpc_net nets[2];

	(void)state;
	assert_int_equal(rpc_net_parse(&nets[0], "10.0.0.0/8"), 0);
	assert_int_equal(rpc_net_parse(&nets[1], "[2001:db8::]/32"), 0);
	assert_int_equal(rpc_dispatcher_new(&d, methods, N_METHODS, nets, 2, 0), 0);
	assert_int_equal(call_from(d, "10.1.2.3", "register", REGISTER_ARGS, NULL), 0);
	assert_int_equal(result_int(), 0);
	assert_int_equal(call_from(d, "::ffff:10.9.9.9", "register", REGISTER_ARGS, NULL), 0);
	assert_int_equal(result_int(), 0);
	assert_int_equal(call_from(d, "2001:db8:ffff::7", "register", REGISTER_ARGS, NULL), 0);
	assert_int_equal(result_int(), 0);
	/* the defaults are replaced, not added to */
	assert_int_equal(call_from(d, "127.0.0.1", "register", REGISTER_ARGS, NULL), 0);
	expect_fault(RPC_FAULT_ACCESS,
	    "writing method 'register' is refused for 127.0.0.1: not in the write-allow list");
	assert_int_equal(call_from(d, "11.0.0.1", "register", REGISTER_ARGS, NULL), 0);
	expect_fault(RPC_FAULT_ACCESS, NULL);
	rpc_dispatcher_free(d);
	reset();
}

static bool
array_has_string(xmlrpc_value *a, const char *want)
{
	xmlrpc_env env;
	bool found = false;
	int n;

	xmlrpc_env_init(&env);
	n = xmlrpc_array_size(&env, a);
	for (int i = 0; i < n && !found; i++) {
		xmlrpc_value *v;
		const char *s;

		xmlrpc_array_read_item(&env, a, (unsigned)i, &v);
		xmlrpc_read_string(&env, v, &s);
		assert_false(env.fault_occurred);
		found = strcmp(s, want) == 0;
		free((void *)(uintptr_t)s);
		xmlrpc_DECREF(v);
	}
	xmlrpc_env_clean(&env);
	return found;
}

static void
introspection(void **state)
{
	struct rpc_dispatcher *d = dispatcher();
	xmlrpc_env env;
	xmlrpc_value *v, *alt;
	const char *s;

	(void)state;
	xmlrpc_env_init(&env);
	call(d, "system.listMethods", "");
	v = result();
	assert_int_equal(xmlrpc_array_size(&env, v), N_METHODS + 3);
	for (size_t i = 0; i < N_METHODS; i++)
		assert_true(array_has_string(v, methods[i].name));
	assert_true(array_has_string(v, "system.listMethods"));
	assert_true(array_has_string(v, "system.methodHelp"));
	assert_true(array_has_string(v, "system.methodSignature"));
	xmlrpc_DECREF(v);

	call(d, "system.methodHelp", P_STR("add"));
	v = result();
	xmlrpc_read_string(&env, v, &s);
	assert_string_equal(s, "Adds two ints.");
	free((void *)(uintptr_t)s);
	xmlrpc_DECREF(v);
	call(d, "system.methodHelp", P_STR("multi"));	/* no help: empty */
	v = result();
	xmlrpc_read_string(&env, v, &s);
	assert_string_equal(s, "");
	free((void *)(uintptr_t)s);
	xmlrpc_DECREF(v);
	call(d, "system.methodHelp", P_STR("nope"));
	expect_fault(RPC_FAULT_NO_METHOD, "unknown method 'nope'");

	call(d, "system.methodSignature", P_STR("multi"));
	v = result();
	assert_int_equal(xmlrpc_array_size(&env, v), 2);
	xmlrpc_array_read_item(&env, v, 1, &alt);
	assert_int_equal(xmlrpc_array_size(&env, alt), 3);
	assert_true(array_has_string(alt, "int"));
	assert_true(array_has_string(alt, "string"));
	xmlrpc_DECREF(alt);
	xmlrpc_DECREF(v);
	call(d, "system.methodSignature", P_STR("register"));
	v = result();
	xmlrpc_array_read_item(&env, v, 0, &alt);
	assert_int_equal(xmlrpc_array_size(&env, alt), 7);
	assert_true(array_has_string(alt, "base64"));
	xmlrpc_DECREF(alt);
	xmlrpc_DECREF(v);
	call(d, "system.methodSignature", P_STR("system.listMethods"));
	v = result();
	xmlrpc_array_read_item(&env, v, 0, &alt);
	assert_int_equal(xmlrpc_array_size(&env, alt), 1);
	assert_true(array_has_string(alt, "array"));
	xmlrpc_DECREF(alt);
	xmlrpc_DECREF(v);
	call(d, "system.methodSignature", "");
	expect_fault(RPC_FAULT_PARAMS, "system.methodSignature: takes 1 argument, got 0");
	assert_false(env.fault_occurred);
	xmlrpc_env_clean(&env);
	rpc_dispatcher_free(d);
	reset();
}

/* An array argument nested depth deep. */
static void
nested_call(struct rpc_dispatcher *d, int depth)
{
	char params[REQ_MAX];
	size_t n = 0;

	n += (size_t)snprintf(params + n, sizeof(params) - n, "<param><value>");
	for (int i = 0; i < depth; i++)
		n += (size_t)snprintf(params + n, sizeof(params) - n, "<array><data><value>");
	n += (size_t)snprintf(params + n, sizeof(params) - n, "<int>1</int>");
	for (int i = 0; i < depth; i++)
		n += (size_t)snprintf(params + n, sizeof(params) - n, "</value></data></array>");
	n += (size_t)snprintf(params + n, sizeof(params) - n, "</value></param>");
	assert_true(n < sizeof(params));
	call(d, "nested", params);
}

static void
nesting_limit(void **state)
{
	struct rpc_dispatcher *d = dispatcher();

	(void)state;
	nested_call(d, SHALLOW);
	assert_int_equal(result_int(), 0);
	nested_call(d, DEEP);
	assert_true(fault_starts(RPC_FAULT_PARSE, "request is not an XML-RPC call: "));
	rpc_dispatcher_free(d);
	reset();
}

static void
bad_methods(void **state)
{
	struct rpc_dispatcher *d = NULL;
	struct rpc_method m[2] = {
		{ "a", "i:s", NULL, false, m_zero, NULL },
		{ "b", "i:s", NULL, false, m_zero, NULL },
	};
	static const char *bad_sigs[] = {
		"", "i", "is", "x:s", "i:x", "i:s,", "i:s,s", "i:iiiiiiiii",
		"i:,i:,i:,i:,i:,i:,i:,i:,i:",
	};
	struct rpc_net net;

	(void)state;
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), 0);
	rpc_dispatcher_free(d);
	m[1].name = "a";
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	assert_null(d);
	m[1].name = "system.listMethods";
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	m[1].name = "";
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	m[1].name = NULL;
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	m[1].name = "b";
	m[1].handler = NULL;
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	m[1].handler = m_zero;
	for (size_t i = 0; i < sizeof(bad_sigs) / sizeof(bad_sigs[0]); i++) {
		m[1].signature = bad_sigs[i];
		assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	}
	m[1].signature = NULL;
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), -EINVAL);
	m[1].signature = "i:iiiiiiii,A:,S:SA6dbs";
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, NULL, 0, 0), 0);
	rpc_dispatcher_free(d);

	memset(&net, 0, sizeof(net));
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, &net, 1, 0), -EINVAL);
	net.addr.family = KBR_AF_INET;
	net.prefix = 33;
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, &net, 1, 0), -EINVAL);
	assert_int_equal(rpc_dispatcher_new(&d, m, 2, &net, RPC_MAX_ALLOW + 1, 0), -EINVAL);
	assert_int_equal(rpc_dispatcher_new(&d, NULL, 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(rpc_dispatcher_new(NULL, m, 2, NULL, 0, 0), -EINVAL);
	assert_int_equal(rpc_dispatcher_new(&d, NULL, 0, NULL, 0, 0), 0);
	rpc_dispatcher_free(d);
	rpc_dispatcher_free(NULL);
}

static void
net_parse(void **state)
{
	struct rpc_net n;
	struct kbr_addr a;
	static const char *bad[] = {
		"", "/8", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/8x",
		"1.2.3.4/0008", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::1/129", "[::1", "[::1]x",
		"[1.2.3.4]", "[]", "fe80::1%eth0", "localhost", " 1.2.3.4", "1.2.3.4 ",
		"[::1]/", "::1/1/2",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff",
	};

	(void)state;
	assert_int_equal(rpc_net_parse(&n, "127.0.0.0/8"), 0);
	assert_int_equal(n.addr.family, KBR_AF_INET);
	assert_int_equal(n.prefix, 8);
	a = addr("127.200.1.1");
	assert_true(rpc_net_contains(&n, &a));
	a = addr("128.0.0.1");
	assert_false(rpc_net_contains(&n, &a));
	a = addr("::ffff:127.0.0.1");
	assert_true(rpc_net_contains(&n, &a));
	a = addr("::1");
	assert_false(rpc_net_contains(&n, &a));

	assert_int_equal(rpc_net_parse(&n, "::1"), 0);
	assert_int_equal(n.addr.family, KBR_AF_INET6);
	assert_int_equal(n.prefix, 128);
	assert_true(rpc_net_contains(&n, &a));
	a = addr("::2");
	assert_false(rpc_net_contains(&n, &a));

	assert_int_equal(rpc_net_parse(&n, "[::1]/128"), 0);
	assert_int_equal(n.prefix, 128);
	assert_int_equal(rpc_net_parse(&n, "10.0.0.1/32"), 0);
	a = addr("10.0.0.1");
	assert_true(rpc_net_contains(&n, &a));
	a = addr("10.0.0.2");
	assert_false(rpc_net_contains(&n, &a));
	assert_int_equal(rpc_net_parse(&n, "10.0.0.1"), 0);
	assert_int_equal(n.prefix, 32);

	/* host bits are cleared; odd prefixes work bit by bit */
	assert_int_equal(rpc_net_parse(&n, "192.168.1.77/23"), 0);
	assert_int_equal(n.addr.ip[2], 0);
	assert_int_equal(n.addr.ip[3], 0);
	a = addr("192.168.1.200");
	assert_true(rpc_net_contains(&n, &a));
	a = addr("192.168.2.1");
	assert_false(rpc_net_contains(&n, &a));

	/* /0 matches everything of its family */
	assert_int_equal(rpc_net_parse(&n, "0.0.0.0/0"), 0);
	a = addr("203.0.113.9");
	assert_true(rpc_net_contains(&n, &a));
	a = addr("2001:db8::1");
	assert_false(rpc_net_contains(&n, &a));

	/* a mapped network is the IPv4 network */
	assert_int_equal(rpc_net_parse(&n, "::ffff:10.0.0.0/104"), 0);
	assert_int_equal(n.addr.family, KBR_AF_INET);
	assert_int_equal(n.prefix, 8);
	a = addr("10.2.3.4");
	assert_true(rpc_net_contains(&n, &a));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rpc_net_parse(&n, bad[i]), -EINVAL);
	assert_int_equal(rpc_net_parse(NULL, "::1"), -EINVAL);
	assert_int_equal(rpc_net_parse(&n, NULL), -EINVAL);
	assert_false(rpc_net_contains(NULL, &a));
	memset(&n, 0, sizeof(n));
	memset(&a, 0, sizeof(a));
	assert_false(rpc_net_contains(&n, &a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sync_call),
		cmocka_unit_test(async_call),
		cmocka_unit_test(detach_and_abort),
		cmocka_unit_test(busy),
		cmocka_unit_test(wrong_count),
		cmocka_unit_test(wrong_type),
		cmocka_unit_test(base64_and_string),
		cmocka_unit_test(unknown_and_garbage),
		cmocka_unit_test(write_access),
		cmocka_unit_test(custom_allow),
		cmocka_unit_test(introspection),
		cmocka_unit_test(nesting_limit),
		cmocka_unit_test(bad_methods),
		cmocka_unit_test(net_parse),
	};

	return cmocka_run_group_tests_name("rpc_dispatch", tests, NULL, NULL);
}
