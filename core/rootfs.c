#define _GNU_SOURCE   /* tdestroy */
#include "core/rootfs.h"
#include "core/dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum kind { DIR_ENTRY, LINK_ENTRY, DATA_ENTRY };

struct node {
	char *path;          /* relative: "bin/hello" */
	enum kind kind;
	mode_t mode;
	unsigned owner;      /* uid and gid; 0 but for a home directory */
	char *target;        /* links: absolute target; data: contents */
};

struct tree {
	void *root;          /* tsearch tree of entries, by path, for look-ups */
	struct node **all;  /* the same entries, for writing out in order */
	size_t n, cap;
	int failed;
};

#define PASSWD \
	"root:x:0:0:root:/root:/bin/sh\n" \
	"nobody:x:65534:65534:nobody:/var/empty:/bin/false\n"
#define GROUP \
	"root:x:0:\n" \
	"nobody:x:65534:\n"
#define USER_ID IMAGE_USER_ID_TEXT

static const char *const passwd[2] = {
	PASSWD,
	PASSWD IMAGE_USER ":x:" USER_ID ":" USER_ID ":" IMAGE_USER ":" IMAGE_USER_HOME ":/bin/sh\n",
};
static const char *const group[2] = {
	GROUP,
	GROUP IMAGE_USER ":x:" USER_ID ":\n",
};

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->path, ((const struct node *)b)->path);
}

static int cmp_node_ptr(const void *a, const void *b)
{
	return cmp_node(*(struct node *const *)a, *(struct node *const *)b);
}

static void free_node(void *p)
{
	struct node *e = p;

	free(e->path);
	free(e->target);
	free(e);
}

static struct node *find(struct tree *tr, const char *path)
{
	struct node key = { .path = (char *)path };
	void *hit = tfind(&key, &tr->root, cmp_node);

	return hit ? *(struct node **)hit : NULL;
}

/* Adds an entry unless the path is taken; returns the entry at the path. */
static struct node *add(struct tree *tr, const char *path, enum kind kind,
			 mode_t mode, const char *target)
{
	struct node *e = find(tr, path);

	if (e)
		return e;
	if (tr->n == tr->cap) {
		size_t cap = tr->cap ? 2 * tr->cap : 256;
		struct node **grown = realloc(tr->all, cap * sizeof *grown);

		if (!grown)
			goto nomem;
		tr->all = grown;
		tr->cap = cap;
	}
	e = calloc(1, sizeof *e);
	if (!e || !(e->path = strdup(path)) || (target && !(e->target = strdup(target))) ||
	    !tsearch(e, &tr->root, cmp_node)) {
		if (e)
			free_node(e);
		goto nomem;
	}
	e->kind = kind;
	e->mode = mode;
	tr->all[tr->n++] = e;
	return e;
nomem:
	tr->failed = 1;
	return NULL;
}

/* Adds path's parent directories, outermost first. */
static void add_parents(struct tree *tr, const char *path)
{
	char buf[PATH_MAX];
	char *slash;

	snprintf(buf, sizeof buf, "%s", path);
	for (slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		add(tr, buf, DIR_ENTRY, 0755, NULL);
		*slash = '/';
	}
}

/* Mirrors the directory src at rel: directories become real directories
 * (merged across packages), everything else a link into the store. */
static int merge(struct tree *tr, const char *src, const char *rel, char *err, size_t errlen)
{
	struct dirent **list = NULL;
	char child_src[PATH_MAX], child_rel[PATH_MAX];
	int n, i, rc = 0;

	n = dirlist_sorted(src, &list);
	if (n < 0) {
		snprintf(err, errlen, "cannot list %s: %s", src, strerror(errno));
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		struct stat st;
		struct node *e;

		if (rc == 0) {
			snprintf(child_src, sizeof child_src, "%s/%s", src, list[i]->d_name);
			snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, *rel ? "/" : "", list[i]->d_name);
			if (lstat(child_src, &st) < 0) {
				snprintf(err, errlen, "cannot read %s: %s", child_src, strerror(errno));
				rc = -EIO;
			} else if (S_ISDIR(st.st_mode)) {
				e = add(tr, child_rel, DIR_ENTRY, 0755, NULL);
				if (e && e->kind == DIR_ENTRY)
					rc = merge(tr, child_src, child_rel, err, errlen);
			} else {
				add(tr, child_rel, LINK_ENTRY, 0777, child_src);
			}
		}
	}
	dirlist_free(list, n);
	return rc;
}

static void add_system_files(struct tree *tr, int nonroot)
{
	struct node *env = find(tr, "bin/env");
	struct node *ca = find(tr, "etc/ssl/certs/ca-bundle.crt");

	struct node *etc;
	struct node *tmp = add(tr, "tmp", DIR_ENTRY, 01777, NULL);

	/* Writable for everyone, even where a package ships its own /tmp. */
	if (tmp && tmp->kind == DIR_ENTRY)
		tmp->mode = 01777;
	if (env && env->kind == LINK_ENTRY) {
		add_parents(tr, "usr/bin/env");
		add(tr, "usr/bin/env", LINK_ENTRY, 0777, env->target);
	}
	if (ca && ca->kind == LINK_ENTRY)
		add(tr, "etc/ssl/certs/ca-certificates.crt", LINK_ENTRY, 0777, ca->target);
	etc = add(tr, "etc", DIR_ENTRY, 0755, NULL);
	if (etc && etc->kind == DIR_ENTRY) {
		add(tr, "etc/passwd", DATA_ENTRY, 0644, passwd[nonroot]);
		add(tr, "etc/group", DATA_ENTRY, 0644, group[nonroot]);
	}
	if (nonroot) {
		struct node *home;

		add_parents(tr, &IMAGE_USER_HOME[1]);
		home = add(tr, &IMAGE_USER_HOME[1], DIR_ENTRY, 0755, NULL);
		if (home && home->kind == DIR_ENTRY)
			home->owner = IMAGE_USER_ID;
	}
}

/* Byte order of paths puts every directory before what it holds. */
static int write_tree(struct tarball *t, struct tree *tr)
{
	size_t i;
	int rc = 0;

	qsort(tr->all, tr->n, sizeof *tr->all, cmp_node_ptr);
	for (i = 0; i < tr->n && rc == 0; i++) {
		struct node *e = tr->all[i];

		if (e->kind == DIR_ENTRY)
			rc = tarball_add_dir_owned(t, e->path, e->mode, e->owner, e->owner);
		else if (e->kind == LINK_ENTRY)
			rc = tarball_add_symlink(t, e->path, e->target);
		else
			rc = tarball_add_data(t, e->path, e->mode, e->target, strlen(e->target));
	}
	return rc;
}

int rootfs_pack(struct tarball *t, char *const *outputs, size_t noutputs, int nonroot,
		char *err, size_t errlen)
{
	struct tree tr = { 0 };
	size_t i;
	int rc = 0;

	for (i = 0; i < noutputs && rc == 0; i++) {
		struct stat st;

		/* A package that is a single file has nothing to link. */
		if (stat(outputs[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc = merge(&tr, outputs[i], "", err, errlen);
	}
	if (rc == 0) {
		add_system_files(&tr, nonroot != 0);
		if (tr.failed)
			rc = -ENOMEM;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory building the symlink layer");
	else if (rc == 0 && (rc = write_tree(t, &tr)) < 0)
		snprintf(err, errlen, "%s", tarball_error(t));
	tdestroy(tr.root, free_node);
	free(tr.all);
	return rc;
}
