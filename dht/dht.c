/* The DHT node: puts and gets over KBR lookups and application messages, the replica side of
 * STORE and FIND_VALUE with chunked transfers, majority decisions and read repair.
 *
 * Timers (dht_tick): record expiry every DHT_EXPIRE_MS; incoming transfers that did not
 * finish within DHT_TRANSFER_MS are dropped. Retries and timeouts of single requests are
 * the KBR's. */
#include "dht/dht.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dht/msg.h"
#include "kbr/table.h"

enum op_kind {
	OP_PUT = 1,
	OP_GET,
};

enum target_state {
	T_PENDING = 0,
	T_DONE,
	T_FAILED,
};

enum {
	GET_RESTARTS = 2,		/* a VALUE stream that changed under us is read again */
	OP_MAX_TARGETS = 2 * DHT_MAX_R,	/* a get also asks likely replicas before the end */
};

struct op;

/* One replica of an operation. */
struct target {
	struct op *op;
	struct kbr_contact c;
	bool self;
	bool final;			/* among the r closest of the finished lookup */
	uint64_t soft_at;		/* get: when its first FIND_VALUE is late */
	bool checked;			/* get: recs hold only records whose signature verified */
	uint8_t state;			/* enum target_state */
	uint8_t status;			/* put: the STORE answer's status */
	uint16_t offset;		/* put: next chunk to send */
	/* get: the VALUE stream being read */
	uint8_t *stream;
	uint32_t total, got, version;
	unsigned restarts;
	struct dht_record *recs;
	size_t nrecs;
};

struct op {
	struct dht *d;
	struct op *prev, *next;
	uint8_t kind;			/* enum op_kind */
	struct nodeid key;
	uint8_t enc[DHT_REC_MAX];	/* put: the record's encoding */
	uint16_t enc_len;
	struct dht_record rec;		/* put */
	uint32_t transfer;
	struct target t[OP_MAX_TARGETS];
	unsigned nt, pending;		/* pending: final targets not done, + 1 while sending */
	/* a get: the lookup ended (the final targets are known); the caller has its answer;
	 * FIND_VALUEs in flight (the operation is freed once finished and none is) */
	bool located, finished;
	unsigned inflight;
	unsigned undecided;		/* answers the last early vote had (0: none) */
	dht_put_cb put_cb;
	dht_get_cb get_cb;
	void *arg;
};

/* A record this node hands over because it is no longer responsible for it: the local
 * copy goes once every node now responsible has it. */
struct move {
	struct dht_record slot;
	unsigned pending, taken, sent;
};

/* A read-repair or maintenance STORE: one record to one replica, on its own. */
struct repair {
	struct dht *d;
	struct repair *prev, *next;
	struct kbr_contact to;
	struct move *mv;		/* NULL, or the hand-over it belongs to */
	uint8_t enc[DHT_REC_MAX];
	uint16_t len, offset;
	uint32_t transfer;
};

/* A multi-chunk STORE coming in. */
struct transfer_in {
	struct nodeid from;
	uint32_t id;
	uint64_t started;
	uint16_t total, got;
	bool used;
	uint8_t buf[DHT_REC_MAX];
};

struct dht {
	struct kbr *k;
	struct dht_replica *rep;
	struct dht_params p;
	struct op *ops;
	unsigned nops;
	struct repair *repairs;
	unsigned nrepairs;
	struct transfer_in *in;		/* DHT_MAX_TRANSFERS, allocated on first use */
	uint32_t next_transfer;
	uint64_t next_expire, next_maintain;
	struct nodeid cursor;		/* maintenance goes on after this key */
	bool cursor_set;
	struct dht_record *published;	/* the owner's records to keep alive */
	size_t npublished;
	uint64_t next_republish;
	struct dht_stats st;
};

/* ---- sending a record in chunks (puts and repairs) ---- */

static int
send_chunk(struct dht *d, const struct kbr_contact *to, uint32_t transfer, const uint8_t *enc,
    uint16_t len, uint16_t offset, kbr_app_cb cb, void *arg)
{
	uint8_t body[KBR_MAX_APP_BODY];
	struct dht_store_msg m;
	int n;

	m.transfer = transfer;
	m.total = len;
	m.offset = offset;
	m.chunk = enc + offset;
	m.len = len - offset < DHT_STORE_CHUNK ? (size_t)(len - offset) : DHT_STORE_CHUNK;
	n = dht_msg_store_encode(&m, body, sizeof(body));
	if (n < 0)
		return n;
	return kbr_app_request(d->k, kbr_now(d->k), to, DHT_STORE, body, (size_t)n, cb, arg);
}

/* Reads a STORE answer: 1 = send the chunk at *next, 0 = final (*status), -1 = bad. */
static int
store_answer(const uint8_t *body, size_t len, uint32_t transfer, uint8_t *status,
    uint16_t *next)
{
	struct dht_store_answer a;

	if (dht_msg_store_answer_decode(&a, body, len) != 0 || a.transfer != transfer)
		return -1;
	if (a.status == DHT_STORE_PART) {
		*next = a.next;
		return 1;
	}
	*status = a.status;
	return 0;
}

/* ---- operations ---- */

static void
op_unlink_free(struct op *op)
{
	struct dht *d = op->d;

	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		d->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	d->nops--;
	for (unsigned i = 0; i < op->nt; i++) {
		free(op->t[i].stream);
		free(op->t[i].recs);
	}
	free(op);
}

static struct op *
op_new(struct dht *d, uint8_t kind, const struct nodeid *key)
{
	struct op *op;

	if (d->nops >= DHT_MAX_OPS)
		return NULL;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NULL;
	op->d = d;
	op->kind = kind;
	op->key = *key;
	op->next = d->ops;
	if (d->ops != NULL)
		d->ops->prev = op;
	d->ops = op;
	d->nops++;
	return op;
}

static void put_finish(struct op *op);
static void get_finish(struct op *op);

/* The send loops hold one extra count on the operation so that a target failing at once
 * cannot finish (and free) it under the loop; op_release gives the count back. */
static void
op_release(struct op *op)
{
	if (--op->pending > 0 || op->finished)
		return;
	if (op->kind == OP_PUT)
		put_finish(op);
	else
		get_finish(op);
}

static bool get_conclude(struct op *op, bool early);
static void op_maybe_free(struct op *op);

static void
target_done(struct target *t, uint8_t state)
{
	struct op *op = t->op;

	if (t->state != T_PENDING)
		return;
	t->state = state;
	if (op->kind == OP_GET && (!t->final || op->finished))
		return;		/* an early ask, its answer kept for when the lookup ends */
	if (op->kind == OP_GET && op->located && op->pending > 1 && get_conclude(op, true))
		return;
	op_release(op);
}

/* ---- put ---- */

static void
put_answer(void *arg, int status, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len)
{
	struct target *t = arg;
	struct op *op = t->op;
	uint16_t next = 0;
	int r;

	(void)from;
	if (status != 0 || type != DHT_STORE_ANSWER) {
		target_done(t, T_FAILED);
		return;
	}
	r = store_answer(body, len, op->transfer, &t->status, &next);
	if (r < 0 || (r == 1 && (next <= t->offset || next >= op->enc_len))) {
		target_done(t, T_FAILED);
		return;
	}
	if (r == 0) {
		target_done(t, T_DONE);
		return;
	}
	t->offset = next;
	if (send_chunk(op->d, &t->c, op->transfer, op->enc, op->enc_len, t->offset, put_answer,
	    t) != 0)
		target_done(t, T_FAILED);
}

static void
put_finish(struct op *op)
{
	unsigned stored = 0, counts[DHT_ERR_INTERNAL + 1] = {0};
	enum dht_reason refused = DHT_OK;
	dht_put_cb cb = op->put_cb;
	void *arg = op->arg;
	unsigned asked = op->nt;

	for (unsigned i = 0; i < op->nt; i++) {
		if (op->t[i].state != T_DONE)
			continue;
		if (op->t[i].status == DHT_OK)
			stored++;
		else if (op->t[i].status <= DHT_ERR_INTERNAL)
			counts[op->t[i].status]++;
	}
	for (unsigned why = 1; why <= DHT_ERR_INTERNAL; why++)
		if (counts[why] > counts[refused])
			refused = (enum dht_reason)why;
	if (2 * stored > asked)
		op->d->st.puts_ok++;
	op_unlink_free(op);
	cb(arg, 2 * stored > asked ? 0 : -EIO, stored, asked, refused);
}

/* The target for contact c (self: this node), reusing one a get asked early. early: an
 * ask before the lookup ended, which may not take the r slots kept for the final targets
 * (whatever the nodes met on the way answer, the lookup's r closest get asked). */
static struct target *
target_for(struct op *op, const struct kbr_contact *c, bool self, bool early, bool *fresh)
{
	struct target *t;

	*fresh = false;
	for (unsigned i = 0; i < op->nt; i++)
		if (!self && !op->t[i].self && nodeid_eq(&op->t[i].c.id, &c->id))
			return &op->t[i];
	if (op->nt == OP_MAX_TARGETS || (early && op->nt + op->d->p.r >= OP_MAX_TARGETS))
		return NULL;
	t = &op->t[op->nt++];
	memset(t, 0, sizeof(*t));
	t->op = op;
	t->self = self;
	if (self)
		t->c.id = *kbr_self_id(op->d->k);
	else
		t->c = *c;
	*fresh = true;
	return t;
}

/* Marks the r nodes closest to the key among the lookup's result and this node as the
 * operation's final targets; returns the fresh ones (not asked yet) in out. */
static unsigned
choose_targets(struct op *op, const struct kbr_contact *res, size_t n, struct target **out)
{
	struct dht *d = op->d;
	const struct nodeid *self = kbr_self_id(d->k);
	bool self_placed = false;
	unsigned chosen = 0, nfresh = 0;
	size_t i = 0;

	op->pending = 0;
	while (chosen < d->p.r && (i < n || !self_placed)) {
		bool me = !self_placed && (i == n || kbr_distance_cmp(&op->key, self,
		    &res[i].id) < 0), fresh;
		struct target *t = target_for(op, me ? NULL : &res[i], me, false, &fresh);

		if (me)
			self_placed = true;
		else
			i++;
		if (t == NULL || t->final)
			continue;
		t->final = true;
		chosen++;
		if (fresh)
			out[nfresh++] = t;
		if (t->state == T_PENDING)
			op->pending++;
	}
	return nfresh;
}

static int ask_find(struct target *t);

/* This node as one of the replicas: store or read locally. */
static void
serve_self(struct target *t)
{
	struct op *op = t->op;
	struct dht *d = op->d;
	int k;

	if (op->kind == OP_PUT) {
		t->status = (uint8_t)dht_replica_store(d->rep, kbr_now(d->k), NULL, &op->rec);
		target_done(t, T_DONE);
		return;
	}
	t->recs = calloc(DHT_MAX_PER_KEY, sizeof(*t->recs));
	k = t->recs ? dht_replica_find(d->rep, kbr_now(d->k), &op->key, t->recs,
	    DHT_MAX_PER_KEY) : -ENOMEM;
	if (k >= 0) {
		t->nrecs = (size_t)k;
		t->checked = true;	/* the store verified each record it accepted */
	}
	target_done(t, k >= 0 ? T_DONE : T_FAILED);
}

/* The lookup of a put's or get's key ended: ask the r closest (this node among them if it
 * is one) that a get has not asked yet. */
static void
op_lookup_done(void *arg, const struct nodeid *target, const struct kbr_contact *res,
    size_t n, const struct kbr_lookup_stats *st)
{
	struct op *op = arg;
	struct target *fresh[OP_MAX_TARGETS];
	unsigned nfresh;

	(void)target;
	(void)st;
	nfresh = choose_targets(op, res, n, fresh);
	op->located = true;
	op->pending++;
	op->inflight++;		/* a get finishing in the loop stays until its end */
	/* the remote replicas first, then this node */
	for (unsigned i = 0; i < nfresh; i++) {
		struct target *t = fresh[i];
		int err;

		if (t->self)
			continue;
		if (op->kind == OP_PUT)
			err = send_chunk(op->d, &t->c, op->transfer, op->enc, op->enc_len, 0,
			    put_answer, t);
		else
			err = ask_find(t);
		if (err != 0)
			target_done(t, T_FAILED);
	}
	for (unsigned i = 0; i < nfresh; i++)
		if (fresh[i]->self)
			serve_self(fresh[i]);
	op->inflight--;
	if (op->finished) {
		op_maybe_free(op);
		return;
	}
	if (op->kind == OP_GET && op->pending > 1 && get_conclude(op, true))
		return;
	op_release(op);
}

/* A get's lookup heard from `from`: if fewer than r of the contacts it names are closer to
 * the key than it is, it is likely one of the r closest (a replica knows its neighbours),
 * and is asked for the value at once instead of when the lookup ends. */
static void
op_lookup_progress(void *arg, const struct nodeid *key, const struct kbr_contact *from,
    const struct kbr_contact *hints, size_t n)
{
	struct op *op = arg;
	unsigned closer = 0;
	struct target *t;
	bool fresh;

	if (op->kind != OP_GET || op->located)
		return;
	for (size_t i = 0; i < n; i++)
		if (kbr_distance_cmp(key, &hints[i].id, &from->id) < 0)
			closer++;
	if (closer >= op->d->p.r)
		return;
	t = target_for(op, from, false, true, &fresh);
	if (t == NULL || !fresh)
		return;
	if (ask_find(t) != 0)
		t->state = T_FAILED;
}

static int
op_locate(struct op *op, uint64_t now)
{
	struct kbr_lookup_opts o = {.want = op->d->p.r, .progress = op_lookup_progress};

	if (o.want > kbr_get_params(op->d->k)->s)
		o.want = kbr_get_params(op->d->k)->s;
	return kbr_lookup_start_opts(op->d->k, now, &op->key, &o, op_lookup_done, op);
}

int
dht_put(struct dht *d, uint64_t now, const struct dht_record *r, dht_put_cb cb, void *arg)
{
	struct op *op;
	int n, err;

	if (r == NULL || cb == NULL || dht_record_verify(r, now) != DHT_OK)
		return -EINVAL;
	op = op_new(d, OP_PUT, &r->key);
	if (op == NULL)
		return d->nops >= DHT_MAX_OPS ? -EBUSY : -ENOMEM;
	n = dht_record_encode(r, op->enc, sizeof(op->enc));
	if (n <= 0) {
		op_unlink_free(op);
		return -EINVAL;
	}
	op->enc_len = (uint16_t)n;
	op->rec = *r;
	op->transfer = ++d->next_transfer;
	op->put_cb = cb;
	op->arg = arg;
	d->st.puts++;
	err = op_locate(op, now);
	if (err != 0) {
		op_unlink_free(op);
		return err;
	}
	return 0;
}

/* ---- read repair ---- */

/* One STORE of a hand-over ended: taken (stored, or the replica has it or newer). */
static void
move_done(struct dht *d, struct move *mv, bool taken)
{
	if (mv == NULL)
		return;
	mv->taken += taken;
	if (--mv->pending > 0)
		return;
	/* every node now responsible took it: the local copy is no longer needed (a node
	 * that did not answer may be a dead one still in the table: then keep it) */
	if (mv->sent > 0 && mv->taken == mv->sent)
		(void)dht_replica_drop(d->rep, &mv->slot);
	free(mv);
}

static void
repair_free(struct repair *rp)
{
	struct dht *d = rp->d;

	if (rp->prev != NULL)
		rp->prev->next = rp->next;
	else
		d->repairs = rp->next;
	if (rp->next != NULL)
		rp->next->prev = rp->prev;
	d->nrepairs--;
	free(rp);
}

static void
repair_answer(void *arg, int status, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len)
{
	struct repair *rp = arg;
	uint8_t final = DHT_ERR_INTERNAL;
	uint16_t next = 0;
	int r = -1;

	(void)from;
	if (status == 0 && type == DHT_STORE_ANSWER)
		r = store_answer(body, len, rp->transfer, &final, &next);
	if (r != 1 || next <= rp->offset || next >= rp->len) {
		/* done, refused or failed: best effort; a hand-over counts what was taken */
		move_done(rp->d, rp->mv, r == 0 && (final == DHT_OK || final == DHT_ERR_STALE));
		repair_free(rp);
		return;
	}
	rp->offset = next;
	if (send_chunk(rp->d, &rp->to, rp->transfer, rp->enc, rp->len, rp->offset,
	    repair_answer, rp) != 0) {
		move_done(rp->d, rp->mv, false);
		repair_free(rp);
	}
}

/* Sends r to `to`; mv (may be NULL) is told how it ended. Returns 0 or -1 (not sent, and
 * mv not told). */
static int
repair_send(struct dht *d, const struct kbr_contact *to, const struct dht_record *r,
    struct move *mv)
{
	struct repair *rp;
	int n;

	if (d->nrepairs >= DHT_MAX_REPAIRS || (rp = calloc(1, sizeof(*rp))) == NULL)
		return -1;
	n = dht_record_encode(r, rp->enc, sizeof(rp->enc));
	if (n <= 0) {
		free(rp);
		return -1;
	}
	rp->d = d;
	rp->to = *to;
	rp->mv = mv;
	rp->len = (uint16_t)n;
	rp->transfer = ++d->next_transfer;
	rp->next = d->repairs;
	if (d->repairs != NULL)
		d->repairs->prev = rp;
	d->repairs = rp;
	d->nrepairs++;
	d->st.repairs_sent++;
	if (send_chunk(d, to, rp->transfer, rp->enc, rp->len, 0, repair_answer, rp) != 0) {
		repair_free(rp);
		return -1;
	}
	return 0;
}

static void
repair_start(struct dht *d, const struct kbr_contact *to, const struct dht_record *r)
{
	(void)repair_send(d, to, r, NULL);
}

/* ---- get ---- */

static void get_answer(void *arg, int status, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len);

static int
ask_find(struct target *t)
{
	struct op *op = t->op;
	uint8_t body[DHT_FIND_LEN];
	struct dht_find_msg m;
	int n;

	m.key = op->key;
	m.offset = t->got;
	if (t->soft_at == 0)
		t->soft_at = kbr_now(op->d->k) + kbr_request_wait(op->d->k, kbr_now(op->d->k),
		    &t->c.id);
	n = dht_msg_find_encode(&m, body, sizeof(body));
	if (n < 0)
		return n;
	n = kbr_app_request(op->d->k, kbr_now(op->d->k), &t->c, DHT_FIND_VALUE, body,
	    (size_t)n, get_answer, t);
	if (n == 0)
		op->inflight++;
	return n;
}

/* A get that answered its caller goes once no FIND_VALUE of it is in flight. */
static void
op_maybe_free(struct op *op)
{
	if (op->finished && op->inflight == 0)
		op_unlink_free(op);
}

/* Whether r is a byte-identical copy of a record another answer of op already checked. */
static bool
checked_before(const struct op *op, const struct target *self, const struct dht_record *r)
{
	for (unsigned i = 0; i < op->nt; i++) {
		const struct target *t = &op->t[i];

		if (t == self || !t->checked)
			continue;
		for (size_t j = 0; j < t->nrecs; j++)
			if (dht_record_equal(&t->recs[j], r))
				return true;
	}
	return false;
}

/* Parses a complete stream into the target's records and checks their signatures now,
 * while the lookup or other replicas are still awaited (each distinct record once per get),
 * keeping only those that verify: the vote then checks only their form and time. */
static bool
take_stream(struct target *t)
{
	uint64_t now = kbr_now(t->op->d->k);
	size_t kept = 0;
	int n;

	t->recs = calloc(DHT_MAX_PER_KEY, sizeof(*t->recs));
	if (t->recs == NULL)
		return false;
	n = dht_stream_parse(t->stream, t->total, t->recs, DHT_MAX_PER_KEY);
	if (n < 0)
		return false;
	for (size_t i = 0; i < (size_t)n; i++) {
		if (!checked_before(t->op, t, &t->recs[i]) &&
		    dht_record_verify(&t->recs[i], now) != DHT_OK)
			continue;
		if (kept != i)
			t->recs[kept] = t->recs[i];
		kept++;
	}
	t->nrecs = kept;
	t->checked = true;
	return true;
}

static void
get_answer(void *arg, int status, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len)
{
	struct target *t = arg;
	struct dht_value_msg v;

	(void)from;
	t->op->inflight--;
	if (t->op->finished) {
		op_maybe_free(t->op);
		return;
	}
	if (status != 0 || type != DHT_VALUE || dht_msg_value_decode(&v, body, len) != 0) {
		target_done(t, T_FAILED);
		return;
	}
	if (t->stream == NULL || v.total != t->total || v.version != t->version) {
		/* the first chunk, or the stream changed: (re)start */
		if (t->stream != NULL && ++t->restarts > GET_RESTARTS) {
			target_done(t, T_FAILED);
			return;
		}
		free(t->stream);
		t->stream = malloc(v.total ? v.total : 1);
		if (t->stream == NULL) {
			target_done(t, T_FAILED);
			return;
		}
		t->total = v.total;
		t->version = v.version;
		t->got = 0;
		if (v.offset != 0) {
			if (ask_find(t) != 0)
				target_done(t, T_FAILED);
			return;
		}
	}
	if (v.offset != t->got) {
		target_done(t, T_FAILED);
		return;
	}
	memcpy(t->stream + t->got, v.chunk, v.len);
	t->got += (uint32_t)v.len;
	if (t->got < t->total) {
		if (ask_find(t) != 0)
			target_done(t, T_FAILED);
		return;
	}
	if (dht_stream_version(t->stream, t->total) != t->version || !take_stream(t)) {
		target_done(t, T_FAILED);
		return;
	}
	target_done(t, T_DONE);
}

/* Votes over the final targets that answered and gives the caller its answer. early: only
 * if the answer is decided without the others: those that have not answered are late (past
 * their first timeout), more than half of the final targets answered, all for the same
 * owner, and none lacks a winning record. Returns whether the get finished. */
static bool
get_conclude(struct op *op, bool early)
{
	struct dht *d = op->d;
	struct dht_vote_answer answers[DHT_MAX_R];
	bool checked[DHT_MAX_R];
	unsigned idx[DHT_MAX_R], n = 0, nfinal = 0;
	struct dht_vote_result *res;
	dht_get_cb cb = op->get_cb;
	void *arg = op->arg;

	for (unsigned i = 0; i < op->nt; i++) {
		if (!op->t[i].final)
			continue;
		nfinal++;
		if (early && op->t[i].state == T_PENDING && (op->t[i].soft_at == 0 ||
		    kbr_now(d->k) < op->t[i].soft_at))
			return false;	/* not asked yet, or not late yet */
		if (op->t[i].state != T_DONE || n == DHT_MAX_R)
			continue;
		answers[n].records = op->t[i].recs;
		answers[n].n = op->t[i].nrecs;
		checked[n] = op->t[i].checked;
		idx[n++] = i;
	}
	if (early && (2 * n <= nfinal || n == op->undecided))
		return false;	/* too few answers, or the same as at the last try */
	res = calloc(1, sizeof(*res));
	if (res == NULL || dht_vote_checked(&op->key, kbr_now(d->k), answers, n, checked,
	    res) != 0) {
		if (early) {
			free(res);
			return false;
		}
		free(res);
		op->finished = true;
		cb(arg, -ENOMEM, NULL);
		op_maybe_free(op);
		return true;
	}
	if (early) {
		/* "nothing" is never decided early: the late ones may be the replicas that
		 * hold the name, and the others nodes that do not */
		bool decided = res->status == DHT_VOTE_FOUND && res->votes_for_owner == n &&
		    2 * n > nfinal;

		for (unsigned a = 0; a < n && decided; a++)
			decided = !res->repair[a];
		if (!decided) {
			op->undecided = n;
			free(res);
			return false;
		}
		d->st.gets_early++;
	}
	op->finished = true;
	if (res->status == DHT_VOTE_FOUND) {
		d->st.gets_found++;
		for (unsigned a = 0; a < n; a++) {
			struct target *t = &op->t[idx[a]];

			if (!res->repair[a])
				continue;
			for (size_t j = 0; j < res->nrecords; j++) {
				if (t->self)
					(void)dht_replica_store(d->rep, kbr_now(d->k), NULL,
					    &res->records[j]);
				else
					repair_start(d, &t->c, &res->records[j]);
			}
		}
	} else if (res->status == DHT_VOTE_CONFLICT) {
		d->st.gets_conflict++;
	}
	op->inflight++;		/* the caller may start others: keep op until it returns */
	cb(arg, 0, res);
	free(res);
	op->inflight--;
	op_maybe_free(op);
	return true;
}

static void
get_finish(struct op *op)
{
	(void)get_conclude(op, false);
}

/* When this node's own neighbourhood covers the key (the key is closer to it than its
 * farthest sibling, or the sibling table is not full: a small overlay it knows whole), the
 * r contacts closest to the key are most likely its replicas: they are asked at once, while
 * the lookup runs; their answers count if the lookup confirms them. */
static void
ask_known_replicas(struct op *op)
{
	const struct kbr_table *tab = kbr_get_table(op->d->k);
	const struct nodeid *self = kbr_self_id(op->d->k);
	unsigned cap = KBR_SIBLING_FACTOR * kbr_get_params(op->d->k)->s;
	struct kbr_contact c[DHT_MAX_R];
	size_t n, nsib = kbr_table_sibling_count(tab);

	if (nsib == 0)
		return;
	if (nsib >= cap) {
		struct kbr_contact *sib = calloc(nsib, sizeof(*sib));
		size_t got;
		bool near;

		if (sib == NULL)
			return;
		got = kbr_table_closest(tab, self, sib, nsib);
		near = got > 0 && kbr_distance_cmp(self, &op->key, &sib[got - 1].id) < 0;
		free(sib);
		if (!near)
			return;
	}
	n = kbr_table_closest(tab, &op->key, c, op->d->p.r);
	for (size_t i = 0; i < n; i++) {
		bool fresh;
		struct target *t = target_for(op, &c[i], false, true, &fresh);

		if (t != NULL && fresh && ask_find(t) != 0)
			t->state = T_FAILED;
	}
}

int
dht_get(struct dht *d, uint64_t now, const struct nodeid *key, dht_get_cb cb, void *arg)
{
	struct op *op;
	int err;

	if (key == NULL || cb == NULL)
		return -EINVAL;
	op = op_new(d, OP_GET, key);
	if (op == NULL)
		return d->nops >= DHT_MAX_OPS ? -EBUSY : -ENOMEM;
	op->get_cb = cb;
	op->arg = arg;
	d->st.gets++;
	op->inflight++;		/* a lookup that ends at once may finish the get: keep op */
	err = op_locate(op, now);
	if (err != 0) {
		op->finished = true;	/* no answer: the caller gets the error */
	} else if (!op->located) {
		/* only once the lookup holds its slot: a get the KBR cannot look up for asks
		 * nobody */
		ask_known_replicas(op);
	}
	op->inflight--;
	op_maybe_free(op);
	return err;
}

/* ---- serving other nodes ---- */

static uint8_t
answer_store(uint32_t transfer, uint8_t status, uint16_t next, uint8_t *answer,
    size_t *answer_len)
{
	struct dht_store_answer a = {.transfer = transfer, .status = status, .next = next};
	int n = dht_msg_store_answer_encode(&a, answer, *answer_len);

	if (n < 0)
		return 0;
	*answer_len = (size_t)n;
	return DHT_STORE_ANSWER;
}

static uint8_t
store_record(struct dht *d, uint64_t now, const struct kbr_contact *from, uint32_t transfer,
    const uint8_t *enc, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct dht_record *r = malloc(sizeof(*r));
	enum dht_reason why;

	if (r == NULL)
		return answer_store(transfer, DHT_ERR_INTERNAL, 0, answer, answer_len);
	if (dht_record_decode(r, enc, len) != 0)
		why = DHT_ERR_MALFORMED;
	else
		why = dht_replica_store(d->rep, now, &from->id, r);
	free(r);
	d->st.stores_served++;
	return answer_store(transfer, (uint8_t)why, 0, answer, answer_len);
}

static struct transfer_in *
transfer_find(struct dht *d, const struct nodeid *from, uint32_t id, uint64_t now, bool create)
{
	struct transfer_in *free_slot = NULL, *oldest = NULL;

	if (d->in == NULL) {
		if (!create)
			return NULL;
		d->in = calloc(DHT_MAX_TRANSFERS, sizeof(*d->in));
		if (d->in == NULL)
			return NULL;
	}
	for (unsigned i = 0; i < DHT_MAX_TRANSFERS; i++) {
		struct transfer_in *x = &d->in[i];

		if (x->used && x->id == id && nodeid_eq(&x->from, from))
			return x;
		if (!x->used && free_slot == NULL)
			free_slot = x;
		if (x->used && (oldest == NULL || x->started < oldest->started))
			oldest = x;
	}
	if (!create)
		return NULL;
	if (free_slot == NULL)
		free_slot = oldest;	/* full: the oldest unfinished transfer gives way */
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->from = *from;
	free_slot->id = id;
	free_slot->started = now;
	return free_slot;
}

static uint8_t
serve_store(struct dht *d, uint64_t now, const struct kbr_contact *from, const uint8_t *body,
    size_t len, uint8_t *answer, size_t *answer_len)
{
	struct dht_store_msg m;
	struct transfer_in *x;

	if (dht_msg_store_decode(&m, body, len) != 0)
		return 0;
	if (m.offset == 0 && m.len == m.total)
		return store_record(d, now, from, m.transfer, m.chunk, m.len, answer, answer_len);
	x = transfer_find(d, &from->id, m.transfer, now, m.offset == 0);
	if (x == NULL)
		return answer_store(m.transfer, DHT_STORE_PART, 0, answer, answer_len);
	if (m.offset == 0 && (x->got != 0 || x->total != m.total)) {
		x->got = 0;		/* the sender started over */
		x->total = m.total;
	}
	if (m.offset != x->got || m.total != x->total)
		return answer_store(m.transfer, DHT_STORE_PART, x->got, answer, answer_len);
	memcpy(x->buf + x->got, m.chunk, m.len);
	x->got = (uint16_t)(x->got + m.len);
	if (x->got < x->total)
		return answer_store(m.transfer, DHT_STORE_PART, x->got, answer, answer_len);
	x->used = false;
	return store_record(d, now, from, m.transfer, x->buf, x->total, answer, answer_len);
}

static uint8_t
serve_find(struct dht *d, uint64_t now, const uint8_t *body, size_t len, uint8_t *answer,
    size_t *answer_len)
{
	struct dht_find_msg f;
	struct dht_value_msg v;
	struct dht_record *recs;
	uint8_t *stream = NULL;
	long slen = 0;
	int n, k;
	uint8_t type = 0;

	if (dht_msg_find_decode(&f, body, len) != 0)
		return 0;
	recs = calloc(DHT_MAX_PER_KEY, sizeof(*recs));
	stream = malloc(DHT_STREAM_MAX);
	if (recs == NULL || stream == NULL)
		goto out;
	n = dht_replica_find(d->rep, now, &f.key, recs, DHT_MAX_PER_KEY);
	if (n < 0)
		goto out;
	slen = dht_stream_build(recs, (size_t)n, stream, DHT_STREAM_MAX);
	if (slen < 0 || f.offset > (uint32_t)slen)
		goto out;
	v.total = (uint32_t)slen;
	v.version = dht_stream_version(stream, (size_t)slen);
	v.offset = f.offset;
	v.chunk = stream + f.offset;
	v.len = (size_t)slen - f.offset < DHT_VALUE_CHUNK ? (size_t)slen - f.offset :
	    DHT_VALUE_CHUNK;
	if (v.len == 0 && v.total != 0)
		goto out;	/* asked past the end */
	k = dht_msg_value_encode(&v, answer, *answer_len);
	if (k < 0)
		goto out;
	*answer_len = (size_t)k;
	type = DHT_VALUE;
	d->st.finds_served++;
out:
	free(recs);
	free(stream);
	return type;
}

uint8_t
dht_handle_request(struct dht *d, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	switch (type) {
	case DHT_STORE:
		return serve_store(d, now, from, body, len, answer, answer_len);
	case DHT_FIND_VALUE:
		return serve_find(d, now, body, len, answer, answer_len);
	default:
		return 0;
	}
}

/* ---- replica maintenance ---- */

struct key_list {
	struct nodeid *keys;
	size_t n, max;
	const struct nodeid *after;	/* collect keys after this one (NULL: from the start) */
};

static int
collect_key(void *arg, const struct dht_record *r)
{
	struct key_list *kl = arg;

	if (kl->after != NULL && nodeid_cmp(&r->key, kl->after) <= 0)
		return 0;
	if (kl->n > 0 && nodeid_eq(&kl->keys[kl->n - 1], &r->key))
		return 0;	/* stores list a key's records together */
	kl->keys[kl->n++] = r->key;
	return kl->n == kl->max;
}

/* Sends the live records of one key where they belong now. */
static void
maintain_key(struct dht *d, uint64_t now, const struct nodeid *key)
{
	struct kbr_contact near[DHT_MAX_R];
	const struct nodeid *self = kbr_self_id(d->k);
	struct dht_record *recs;
	size_t n = kbr_table_closest(kbr_get_table(d->k), key, near, d->p.r);
	bool responsible = n < d->p.r || kbr_distance_cmp(key, self, &near[n - 1].id) < 0;
	int k;

	/* Every holder sends: one that deferred to a closer node could wait forever for a
	 * node that has left (its STOREs time out, which also takes it out of the table). */
	if (n == 0)
		return;
	/* this node and the others: the r closest are this node and near[0 .. r-2], or (when
	 * this node is not among them) near[0 .. r-1] */
	if (responsible && n == d->p.r)
		n--;
	recs = calloc(DHT_MAX_PER_KEY, sizeof(*recs));
	if (recs == NULL)
		return;
	k = dht_replica_find(d->rep, now, key, recs, DHT_MAX_PER_KEY);
	for (int j = 0; j < k; j++) {
		struct move *mv = NULL;

		/* not responsible any more: hand the record over, then let it go */
		if (!responsible && (mv = calloc(1, sizeof(*mv))) != NULL) {
			mv->slot = recs[j];
			mv->pending = 1;	/* held until every STORE is under way */
		}
		for (size_t i = 0; i < n; i++) {
			if (mv != NULL)
				mv->pending++;
			if (repair_send(d, &near[i], &recs[j], mv) == 0) {
				if (mv != NULL)
					mv->sent++;
			} else if (mv != NULL) {
				mv->pending--;
			}
		}
		if (mv != NULL) {
			/* sent counts the STOREs that went out; all n must have for a drop */
			if (mv->sent < n)
				mv->sent = (unsigned)n;
			move_done(d, mv, false);
		}
	}
	free(recs);
}

static void
maintain(struct dht *d, uint64_t now)
{
	struct key_list kl;

	kl.keys = calloc(DHT_MAINTAIN_KEYS, sizeof(*kl.keys));
	if (kl.keys == NULL)
		return;
	kl.n = 0;
	kl.max = DHT_MAINTAIN_KEYS;
	kl.after = d->cursor_set ? &d->cursor : NULL;
	(void)dht_replica_foreach(d->rep, collect_key, &kl);
	for (size_t i = 0; i < kl.n; i++)
		maintain_key(d, now, &kl.keys[i]);
	/* a full batch: go on from its last key next time; otherwise start over */
	d->cursor_set = kl.n == kl.max;
	if (d->cursor_set)
		d->cursor = kl.keys[kl.n - 1];
	free(kl.keys);
}

/* ---- the owner's records ---- */

static void
republished(void *arg, int status, unsigned stored, unsigned asked, enum dht_reason refused)
{
	(void)arg;
	(void)status;
	(void)stored;
	(void)asked;
	(void)refused;
}

int
dht_publish(struct dht *d, uint64_t now, const struct dht_record *r, dht_put_cb cb, void *arg)
{
	size_t i;
	int err;

	for (i = 0; i < d->npublished; i++)
		if (dht_record_same_slot(&d->published[i], r))
			break;
	if (i == d->npublished) {
		if (d->npublished == DHT_MAX_PUBLISHED)
			return -ENOSPC;
		if (d->published == NULL) {
			d->published = calloc(DHT_MAX_PUBLISHED, sizeof(*d->published));
			if (d->published == NULL)
				return -ENOMEM;
		}
	}
	err = dht_put(d, now, r, cb, arg);
	if (err != 0)
		return err;
	d->published[i] = *r;
	if (i == d->npublished)
		d->npublished++;
	return 0;
}

int
dht_unpublish(struct dht *d, const struct dht_record *slot)
{
	for (size_t i = 0; i < d->npublished; i++) {
		if (dht_record_same_slot(&d->published[i], slot)) {
			d->published[i] = d->published[--d->npublished];
			return 0;
		}
	}
	return -ENOENT;
}

size_t
dht_published_count(const struct dht *d)
{
	return d->npublished;
}

static void
republish(struct dht *d, uint64_t now)
{
	for (size_t i = 0; i < d->npublished;) {
		if (d->published[i].expiry <= now) {
			d->published[i] = d->published[--d->npublished];
			continue;
		}
		if (dht_put(d, now, &d->published[i], republished, NULL) == 0)
			d->st.republished++;
		i++;
	}
}

/* ---- setup, timers ---- */

uint64_t
dht_tick(struct dht *d, uint64_t now)
{
	uint64_t next;

	if (now >= d->next_expire) {
		(void)dht_replica_expire(d->rep, now);
		d->next_expire = now + DHT_EXPIRE_MS;
	}
	if (now >= d->next_republish) {
		if (d->next_republish != 0)
			republish(d, now);
		d->next_republish = now + d->p.republish_ms;
	}
	if (now >= d->next_maintain) {
		if (d->next_maintain != 0)	/* not at the very start: the table is empty */
			maintain(d, now);
		d->next_maintain = now + d->p.maintain_ms;
	}
	for (unsigned i = 0; d->in != NULL && i < DHT_MAX_TRANSFERS; i++)
		if (d->in[i].used && d->in[i].started + DHT_TRANSFER_MS <= now)
			d->in[i].used = false;
	next = d->next_expire < d->next_maintain ? d->next_expire : d->next_maintain;
	if (d->next_republish < next)
		next = d->next_republish;
	/* gets waiting only for late replicas may be decided */
	for (struct op *op = d->ops, *on; op != NULL; op = on) {
		on = op->next;
		/* (pending counts the final targets still awaited here) */
		if (op->kind != OP_GET || !op->located || op->finished || op->pending == 0)
			continue;
		for (unsigned i = 0; i < op->nt; i++) {
			const struct target *t = &op->t[i];

			if (t->final && t->state == T_PENDING && t->soft_at > now &&
			    t->soft_at < next)
				next = t->soft_at;
		}
		(void)get_conclude(op, true);	/* may free op */
	}
	return next;
}

struct dht *
dht_new(struct kbr *k, struct dht_replica *rep, const struct dht_params *p)
{
	struct dht *d;

	if (k == NULL || rep == NULL || p == NULL || p->r < 1 || p->r > DHT_MAX_R ||
	    p->r % 2 == 0)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->k = k;
	d->rep = rep;
	d->p = *p;
	if (d->p.maintain_ms == 0)
		d->p.maintain_ms = DHT_MAINTAIN_MS;
	if (d->p.republish_ms == 0)
		d->p.republish_ms = DHT_REPUBLISH_MS;
	return d;
}

void
dht_free(struct dht *d)
{
	if (d == NULL)
		return;
	while (d->ops != NULL)
		op_unlink_free(d->ops);
	while (d->repairs != NULL) {
		struct move *mv = d->repairs->mv;

		repair_free(d->repairs);
		if (mv != NULL && --mv->pending == 0)
			free(mv);
	}
	free(d->in);
	free(d->published);
	free(d);
}

void
dht_get_stats(const struct dht *d, struct dht_stats *st)
{
	*st = d->st;
}
