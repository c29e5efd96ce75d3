/*
 * The warm path of the rootfs digest (./tree-digest.ts) in C, loaded by ./native-walk.ts through koffi as
 * dist/lib/libinclavare-walk.so. It produces the same records, in the same order, as the synchronous walk of
 * treeDigest, but only for a tree whose every regular file's digest is in the digest cache's volume
 * (./digest-cache.ts): it never reads file contents and never hashes. The caller feeds the records to SHA-384.
 *
 * It gives up (returns WALK_FALLBACK, having changed nothing the caller keeps) at the first thing it does not
 * answer for, and the caller then measures with treeDigest, which gives the same digest and, where there is
 * one, the error: a file whose key is not in the table or differs in size, mtime, ctime or birth time; a file
 * on another device than the volume's or present in the overlay's upper directory; a name with a byte above
 * 0x7f (treeDigest compares names with the excluded paths as UTF-8 strings); a path or link target too long
 * for its buffers; a type other than the seven the records know; a device number that Node.js's 53-bit
 * number would not carry exactly; any failed system call. The times are those libuv reports for lstat:
 * statx(2) with STATX_BASIC_STATS | STATX_BTIME, the birth time copied whether the file system fills it or
 * not (then 0), nanoseconds as seconds * 10^9 + nanoseconds.
 *
 * Table: `count` records of 88 bytes as in a volume file (ino, size, mtime ns, ctime ns, btime ns as u64be,
 * then the 48-byte SHA-384), the checksum already verified by the caller. When two records have the same
 * inode number the later one counts, as in the JavaScript lookup.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define WALK_DONE 0
#define WALK_FALLBACK 1
#define WALK_SHORT 2

#define RECORD 88
#define DIGEST 48
#define PATH_CAP 4096

struct strings {
  const char **items;
  size_t n;
};

struct walk {
  char host[PATH_CAP];   /* root, then the in-container path */
  size_t root_len;
  struct strings excluded;
  struct strings upper;
  uint64_t dev;
  const uint8_t *table;
  uint32_t count;
  uint32_t *slots;       /* open addressing: record index + 1, 0 = empty */
  uint32_t mask;
  uint8_t *used;
  uint8_t *out;
  uint64_t cap;
  uint64_t len;
  uint64_t entries, bytes, hits, hit_bytes;
};

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

static uint32_t mix(uint64_t ino) {
  ino ^= ino >> 33;
  ino *= 0xff51afd7ed558ccdULL;
  ino ^= ino >> 33;
  return (uint32_t)ino;
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits `len` bytes of NUL-terminated strings into a sorted array (the caller frees items). */
static int split(const char *blob, uint32_t len, struct strings *out) {
  size_t n = 0;
  for (uint32_t i = 0; i < len; i++)
    if (blob[i] == '\0') n++;
  out->n = n;
  out->items = calloc(n ? n : 1, sizeof *out->items);
  if (out->items == NULL) return -1;
  const char *p = blob;
  for (size_t i = 0; i < n; i++) {
    out->items[i] = p;
    p += strlen(p) + 1;
  }
  qsort(out->items, n, sizeof *out->items, by_bytes);
  return 0;
}

static int member(const struct strings *set, const char *s) {
  return set->n > 0 && bsearch(&s, set->items, set->n, sizeof *set->items, by_bytes) != NULL;
}

static long lookup(const struct walk *w, uint64_t ino) {
  for (uint32_t h = mix(ino) & w->mask;; h = (h + 1) & w->mask) {
    uint32_t slot = w->slots[h];
    if (slot == 0) return -1;
    if (be64(w->table + (size_t)(slot - 1) * RECORD) == ino) return (long)(slot - 1);
  }
}

static void put(struct walk *w, const void *bytes, size_t n) {
  if (w->len + n <= w->cap) memcpy(w->out + w->len, bytes, n);
  w->len += n;
}

static void put32(struct walk *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 4);
}

static int nanos(struct statx_timestamp t, uint64_t *out) {
  if (t.tv_sec < 0 || (uint64_t)t.tv_sec > (UINT64_MAX - t.tv_nsec) / 1000000000ULL) return -1;
  *out = (uint64_t)t.tv_sec * 1000000000ULL + t.tv_nsec;
  return 0;
}

/* The digest of the regular file at w->host from the table, or NULL (fall back). */
static const uint8_t *content(struct walk *w, const char *in_container, const struct statx *st) {
  if (makedev(st->stx_dev_major, st->stx_dev_minor) != w->dev || member(&w->upper, in_container)) return NULL;
  uint64_t mtime, ctime, btime;
  if (nanos(st->stx_mtime, &mtime) || nanos(st->stx_ctime, &ctime) || nanos(st->stx_btime, &btime)) return NULL;
  long i = lookup(w, st->stx_ino);
  if (i < 0) return NULL;
  const uint8_t *r = w->table + (size_t)i * RECORD;
  if (be64(r + 8) != st->stx_size || be64(r + 16) != mtime || be64(r + 24) != ctime || be64(r + 32) != btime) return NULL;
  if (!w->used[i]) {
    /* The first path of this inode: later hard links reuse the digest and add no bytes, as in treeDigest. */
    w->used[i] = 1;
    w->hits++;
    w->hit_bytes += st->stx_size;
    w->bytes += st->stx_size;
  }
  return r + 40;
}

static int walk_dir(struct walk *w, size_t len) {
  /* w->host[0 .. len) is the directory's host path; its in-container path starts at root_len. */
  w->host[len] = '\0';
  DIR *d = opendir(w->host);
  if (d == NULL) return WALK_FALLBACK;
  size_t n = 0, cap = 64;
  char **names = malloc(cap * sizeof *names);
  int rc = names == NULL ? WALK_FALLBACK : WALK_DONE;
  struct dirent *e;
  while (rc == WALK_DONE && (errno = 0, e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) {
      char **more = realloc(names, 2 * cap * sizeof *names);
      if (more == NULL) {
        rc = WALK_FALLBACK;
        break;
      }
      names = more;
      cap *= 2;
    }
    if ((names[n] = strdup(e->d_name)) == NULL) rc = WALK_FALLBACK;
    else n++;
  }
  if (rc == WALK_DONE && errno != 0) rc = WALK_FALLBACK;
  closedir(d);
  if (rc == WALK_DONE) qsort(names, n, sizeof *names, by_bytes);
  for (size_t k = 0; rc == WALK_DONE && k < n; k++) {
    const char *name = names[k];
    size_t name_len = strlen(name);
    for (size_t c = 0; c < name_len; c++)
      if ((unsigned char)name[c] > 0x7f) rc = WALK_FALLBACK;
    if (rc != WALK_DONE || len + 1 + name_len >= PATH_CAP) {
      rc = WALK_FALLBACK;
      break;
    }
    w->host[len] = '/';
    memcpy(w->host + len + 1, name, name_len + 1);
    size_t child = len + 1 + name_len;
    const char *in_container = w->host + w->root_len;
    if (member(&w->excluded, in_container)) continue;
    struct statx st;
    if (statx(AT_FDCWD, w->host, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, &st) != 0) {
      rc = WALK_FALLBACK;
      break;
    }
    w->entries++;
    char type;
    switch (st.stx_mode & S_IFMT) {
      case S_IFREG: type = 'f'; break;
      case S_IFDIR: type = 'd'; break;
      case S_IFLNK: type = 'l'; break;
      case S_IFCHR: type = 'c'; break;
      case S_IFBLK: type = 'b'; break;
      case S_IFIFO: type = 'p'; break;
      case S_IFSOCK: type = 's'; break;
      default: type = 0;
    }
    const uint8_t *digest = NULL;
    char target[PATH_CAP];
    ssize_t target_len = 0;
    if (type == 'f' && (digest = content(w, in_container, &st)) == NULL) type = 0;
    if (type == 'l' && ((target_len = readlink(w->host, target, sizeof target)) < 0 || (size_t)target_len >= sizeof target)) type = 0;
    if ((type == 'c' || type == 'b') && (st.stx_rdev_major >= 0x1000 || st.stx_rdev_minor >= 0x100000)) type = 0;
    if (type == 0) {
      rc = WALK_FALLBACK;
      break;
    }
    size_t path_len = child - w->root_len;
    put32(w, (uint32_t)path_len);
    put(w, in_container, path_len);
    put(w, &type, 1);
    put32(w, st.stx_mode & 07777);
    put32(w, st.stx_uid);
    put32(w, st.stx_gid);
    if (type == 'f') put(w, digest, DIGEST);
    else if (type == 'l') {
      put32(w, (uint32_t)target_len);
      put(w, target, (size_t)target_len);
    } else if (type == 'c' || type == 'b') {
      put32(w, st.stx_rdev_major);
      put32(w, st.stx_rdev_minor);
    } else if (type == 'd')
      rc = walk_dir(w, child);
  }
  for (size_t k = 0; k < n; k++) free(names[k]);
  free(names);
  w->host[len] = '\0';
  return rc;
}

/*
 * Walks the tree at `root` (the container's "/"). `excluded`: the in-container paths skipped with their
 * subtrees, NUL-terminated, back to back (`excluded_len` bytes); `upper`: likewise, the in-container paths
 * present in the overlay's upper directory (their files are never looked up). `dev`: the volume's device
 * number (glibc's makedev encoding, as Node.js reports st_dev). `used`: `count` bytes, set to 1 for each
 * table record a file's digest came from. `out`: `cap` bytes for the records. `result`: out: the records'
 * length, entries, bytes (each inode once), hits, hit bytes.
 * Returns WALK_DONE, WALK_FALLBACK (measure in JavaScript), or WALK_SHORT (`out` too small: result[0] is
 * the length needed; call again with a larger buffer and `used` cleared).
 */
int inclavare_tree_walk(const char *root, const char *excluded, uint32_t excluded_len, const char *upper, uint32_t upper_len,
                        uint64_t dev, const uint8_t *table, uint32_t count, uint8_t *used, uint8_t *out, uint64_t cap,
                        uint64_t *result) {
  struct walk *w = calloc(1, sizeof *w);
  if (w == NULL) return WALK_FALLBACK;
  int rc = WALK_FALLBACK;
  w->root_len = strlen(root);
  w->dev = dev;
  w->table = table;
  w->count = count;
  w->used = used;
  w->out = out;
  w->cap = cap;
  uint32_t size = 16;
  while (size < 2 * (uint64_t)count && size < (1u << 31)) size <<= 1;
  w->mask = size - 1;
  if (w->root_len == 0 || w->root_len >= PATH_CAP || split(excluded, excluded_len, &w->excluded) != 0) goto done;
  if (split(upper, upper_len, &w->upper) != 0) goto done;
  if ((w->slots = calloc(size, sizeof *w->slots)) == NULL) goto done;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t ino = be64(table + (size_t)i * RECORD);
    uint32_t h = mix(ino) & w->mask;
    while (w->slots[h] != 0 && be64(table + (size_t)(w->slots[h] - 1) * RECORD) != ino) h = (h + 1) & w->mask;
    w->slots[h] = i + 1;
  }
  memcpy(w->host, root, w->root_len + 1);
  rc = walk_dir(w, w->root_len);
  if (rc == WALK_DONE && w->len > w->cap) rc = WALK_SHORT;
  result[0] = w->len;
  result[1] = w->entries;
  result[2] = w->bytes;
  result[3] = w->hits;
  result[4] = w->hit_bytes;
done:
  free(w->excluded.items);
  free(w->upper.items);
  free(w->slots);
  free(w);
  return rc;
}
