#include "nix/store.h"
#include "nix/spawn.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"

/* The serve protocol (Nix's serve-protocol.hh): numbers are 64-bit
 * little-endian; a string is its length, its bytes and zeros to a
 * multiple of 8; a set is its count and its strings. */
#define SERVE_MAGIC_1 0x390c9debu
#define SERVE_MAGIC_2 0x5452eecbu
#define SERVE_VERSION 0x204u     /* 2.4: path infos carry hash, CA and signatures */
#define SERVE_MAJOR(v) ((v) & 0xff00u)

enum serve_command {
	QUERY_VALID_PATHS = 1,
	QUERY_PATH_INFOS = 2,
	QUERY_CLOSURE = 7,
};

/* Bounds on what is read back: a store path, a hash or a signature is
 * short; a closure of a million paths is no image. */
#define MAX_STRING 65536u
#define MAX_COUNT (1u << 20)

struct nix_store {
	struct spawn_session session;
	int greeted;                 /* its greeting has been read */
	int nomem;                   /* the request in out is incomplete */
	int broken;                  /* a call failed: see failed */
	struct buf out;              /* a request being put together */
	size_t at, have;             /* what of in is read, and there */
	unsigned char in[65536];
	char text[MAX_STRING + 1];   /* the last string read */
};

/* A request is put together in s->out; a failed append is remembered
 * and reported when it is sent. */
static void put_bytes(struct nix_store *s, const void *data, size_t len)
{
	if (buf_append(&s->out, data, len) < 0)
		s->nomem = 1;
}

static void put_number(struct nix_store *s, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	put_bytes(s, le, 8);
}

static void put_string(struct nix_store *s, const char *text)
{
	static const unsigned char zeros[8];
	size_t len = strlen(text);

	put_number(s, len);
	put_bytes(s, text, len);
	put_bytes(s, zeros, (8 - len % 8) % 8);
}

static void put_set(struct nix_store *s, char *const *items, size_t n)
{
	put_number(s, n);
	for (size_t i = 0; i < n; i++)
		put_string(s, items[i]);
}

/* Says what went wrong, with the end of what Nix printed. The session is
 * out of step with Nix from then on, and answers nothing more. */
static int failed(struct nix_store *s, int rc, char *err, size_t errlen)
{
	const char *tail = s->session.err_tail;
	size_t len = strlen(tail), from;

	while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' '))
		len--;
	from = len > 300 ? len - 300 : 0;
	s->broken = 1;
	if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "the Nix store did not answer before the deadline");
	else if (rc == -ECANCELED)
		snprintf(err, errlen, "the Nix store's answer was cut short: the worker is shutting down");
	else if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory talking to the Nix store");
	else if (rc == -ENOTCONN)
		snprintf(err, errlen, "the Nix store session failed earlier, and answers nothing more");
	else
		snprintf(err, errlen, "nix-store --serve %s%s%.*s",
			 rc == -EPROTO ? "answered out of protocol" : rc == -EPIPE ? "ended" : strerror(-rc),
			 len ? ": " : "", (int)(len - from), tail + from);
	return rc == -ETIMEDOUT || rc == -ECANCELED || rc == -ENOMEM ? rc : -EIO;
}

static int send_request(struct nix_store *s, const struct deadline *dl)
{
	int rc = s->nomem ? -ENOMEM : spawn_write(&s->session, s->out.data, s->out.len, dl);

	s->out.len = 0;
	s->nomem = 0;
	return rc;
}

static int get_bytes(struct nix_store *s, void *to, size_t n, const struct deadline *dl)
{
	unsigned char *p = to;

	while (n > 0) {
		if (s->at == s->have) {
			long got = spawn_read(&s->session, s->in, sizeof s->in, dl);

			if (got <= 0)
				return got < 0 ? (int)got : -EPIPE;
			s->at = 0;
			s->have = (size_t)got;
		}
		size_t take = s->have - s->at < n ? s->have - s->at : n;

		if (p) {
			memcpy(p, s->in + s->at, take);
			p += take;
		}
		s->at += take;
		n -= take;
	}
	return 0;
}

static int get_number(struct nix_store *s, uint64_t *v, const struct deadline *dl)
{
	unsigned char le[8];
	int rc = get_bytes(s, le, 8, dl);

	*v = 0;
	for (int i = 7; rc == 0 && i >= 0; i--)
		*v = *v << 8 | le[i];
	return rc;
}

/* A string into s->text. */
static int get_string(struct nix_store *s, const struct deadline *dl)
{
	uint64_t len;
	int rc;

	if ((rc = get_number(s, &len, dl)) < 0)
		return rc;
	if (len > MAX_STRING)
		return -EPROTO;
	if ((rc = get_bytes(s, s->text, (size_t)len, dl)) < 0 ||
	    (rc = get_bytes(s, NULL, (8 - len % 8) % 8, dl)) < 0)
		return rc;
	s->text[len] = '\0';
	return strlen(s->text) == len ? 0 : -EPROTO;
}

static int get_count(struct nix_store *s, uint64_t *n, const struct deadline *dl)
{
	int rc = get_number(s, n, dl);

	return rc < 0 ? rc : *n > MAX_COUNT ? -EPROTO : 0;
}

/* A set of *n strings, each added to list (as JSON strings) when list is
 * not NULL. */
static int get_set(struct nix_store *s, cJSON *list, uint64_t *n, const struct deadline *dl)
{
	int rc = get_count(s, n, dl);

	for (uint64_t i = 0; rc == 0 && i < *n; i++)
		if ((rc = get_string(s, dl)) == 0 && list && !cJSON_AddItemToArray(list, cJSON_CreateString(s->text)))
			rc = -ENOMEM;
	return rc;
}

/* The answer to the greeting sent at the start: read before the first
 * answer, so that starting the session never waits for Nix. */
static int greeted(struct nix_store *s, const struct deadline *dl)
{
	uint64_t magic, version;
	int rc;

	if (s->greeted)
		return 0;
	if ((rc = get_number(s, &magic, dl)) < 0 || (rc = get_number(s, &version, dl)) < 0)
		return rc;
	if (magic != SERVE_MAGIC_2 || SERVE_MAJOR(version) != SERVE_MAJOR(SERVE_VERSION))
		return -EPROTO;
	s->greeted = 1;
	return 0;
}

int nix_store_open(struct nix_store **out, char *err, size_t errlen)
{
	static char *const argv[] = { "nix-store", "--serve", "--write", NULL };
	struct nix_store *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((rc = spawn_open(argv, &s->session, err, errlen)) < 0) {
		free(s);
		return rc;
	}
	put_number(s, SERVE_MAGIC_1);
	put_number(s, SERVE_VERSION);
	/* Sixteen bytes fit in the pipe: this does not wait for Nix. */
	struct deadline now = deadline_in(0, NULL);

	if ((rc = send_request(s, &now)) < 0) {
		rc = failed(s, rc, err, errlen);
		nix_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

int nix_store_hold(struct nix_store *s, char *const *paths, size_t n, const struct deadline *dl,
		   char *err, size_t errlen)
{
	uint64_t valid;
	int rc;

	if (s->broken)
		return failed(s, -ENOTCONN, err, errlen);
	put_number(s, QUERY_VALID_PATHS);
	put_number(s, 1);      /* lock: a temporary root on each path */
	put_number(s, 0);      /* substitute: no */
	put_set(s, paths, n);
	if ((rc = send_request(s, dl)) < 0 || (rc = greeted(s, dl)) < 0 ||
	    (rc = get_set(s, NULL, &valid, dl)) < 0)
		return failed(s, rc, err, errlen);
	return valid == n;
}

/* One path's entry in the answer to QUERY_PATH_INFOS, as nix path-info
 * --json lists it: path, narSize and references; NULL at the end. */
static int get_path_info(struct nix_store *s, cJSON **entry, const struct deadline *dl)
{
	cJSON *e, *refs;
	uint64_t download_size, nar_size, nrefs, nsigs;
	int rc;

	*entry = NULL;
	if ((rc = get_string(s, dl)) < 0 || !s->text[0])
		return rc;
	if (!(e = cJSON_CreateObject()) || !cJSON_AddStringToObject(e, "path", s->text) ||
	    !(refs = cJSON_AddArrayToObject(e, "references"))) {
		cJSON_Delete(e);
		return -ENOMEM;
	}
	*entry = e;
	if ((rc = get_string(s, dl)) < 0 ||                  /* deriver */
	    (rc = get_set(s, refs, &nrefs, dl)) < 0 ||
	    (rc = get_number(s, &download_size, dl)) < 0 ||
	    (rc = get_number(s, &nar_size, dl)) < 0 ||
	    (rc = get_string(s, dl)) < 0 ||                  /* NAR hash */
	    (rc = get_string(s, dl)) < 0 ||                  /* content address */
	    (rc = get_set(s, NULL, &nsigs, dl)) < 0)         /* signatures */
		return rc;
	/* A size JSON cannot carry exactly is refused by closure_read. */
	return cJSON_AddNumberToObject(e, "narSize", (double)nar_size) ? 0 : -ENOMEM;
}

/* Asks for the closure, then for its paths' infos, into list. */
static int ask_closure(struct nix_store *s, char *const *tops, size_t ntops, const struct deadline *dl,
		       cJSON *list)
{
	cJSON *paths = cJSON_CreateArray(), *entry = NULL, *p;
	uint64_t n;
	int rc;

	if (!paths)
		return -ENOMEM;
	put_number(s, QUERY_CLOSURE);
	put_number(s, 0);      /* with the outputs of derivations: no */
	put_set(s, tops, ntops);
	if ((rc = send_request(s, dl)) < 0 || (rc = greeted(s, dl)) < 0 ||
	    (rc = get_set(s, paths, &n, dl)) < 0)
		goto out;
	put_number(s, QUERY_PATH_INFOS);
	put_number(s, n);
	cJSON_ArrayForEach(p, paths)
		put_string(s, p->valuestring);
	if ((rc = send_request(s, dl)) < 0)
		goto out;
	while ((rc = get_path_info(s, &entry, dl)) == 0 && entry)
		cJSON_AddItemToArray(list, entry);
	if (rc < 0)
		cJSON_Delete(entry);
out:
	cJSON_Delete(paths);
	return rc;
}

int nix_store_closure(struct nix_store *s, char *const *tops, size_t ntops,
		      const struct deadline *dl, struct closure *c, char *err, size_t errlen)
{
	cJSON *list = s->broken ? NULL : cJSON_CreateArray();
	int rc = s->broken ? -ENOTCONN : list ? ask_closure(s, tops, ntops, dl, list) : -ENOMEM;

	memset(c, 0, sizeof *c);
	if (rc == 0)
		rc = closure_read(list, tops, ntops, c, err, errlen);
	else
		rc = failed(s, rc, err, errlen);
	cJSON_Delete(list);
	return rc;
}

void nix_store_close(struct nix_store *s)
{
	if (!s)
		return;
	/* A session that is up leaves at the end of its input, letting go of
	 * its roots; one still starting holds nothing yet, and is not waited
	 * for. */
	spawn_close(&s->session, s->greeted ? 1000 : 0);
	buf_free(&s->out);
	free(s);
}
