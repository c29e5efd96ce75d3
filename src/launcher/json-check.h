/*
 * json_check: is a buffer one valid JSON text (RFC 8259)? A validator only: it builds nothing and
 * allocates nothing. The launcher uses it to hand a config.json that is not valid JSON to the Node.js
 * implementation, which reports the position of the error; runc's own message does not name the file.
 *
 * Nesting is limited (MAX_DEPTH) so that a hostile file cannot exhaust the stack; deeper input counts as
 * invalid here and Node.js decides. test/unit/launcher-json-check.test.ts compares it with JSON.parse on
 * random inputs.
 */
#ifndef RUNE_JSON_CHECK_H
#define RUNE_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_CHECK_MAX_DEPTH 256

struct json_cursor {
  const unsigned char *p;
  const unsigned char *end;
};

static void json_ws(struct json_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool json_lit(struct json_cursor *c, const char *lit) {
  for (; *lit; lit++, c->p++)
    if (c->p >= c->end || *c->p != (unsigned char)*lit) return false;
  return true;
}

static bool json_hex(unsigned char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* A UTF-8 sequence as JSON.parse accepts it after TextDecoder: well-formed, no surrogates, no overlongs. */
static bool json_utf8(struct json_cursor *c) {
  unsigned char b0 = *c->p;
  int len;
  unsigned int cp;
  if (b0 < 0x80) {
    c->p++;
    return true;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return false;
  }
  if (c->end - c->p < len) return false;
  for (int k = 1; k < len; k++) {
    unsigned char b = c->p[k];
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return false;
  c->p += len;
  return true;
}

static bool json_string(struct json_cursor *c) {
  c->p++; /* opening quote */
  while (c->p < c->end) {
    unsigned char ch = *c->p;
    if (ch == '"') {
      c->p++;
      return true;
    }
    if (ch < 0x20) return false;
    if (ch == '\\') {
      c->p++;
      if (c->p >= c->end) return false;
      ch = *c->p++;
      if (ch == 'u') {
        for (int k = 0; k < 4; k++, c->p++)
          if (c->p >= c->end || !json_hex(*c->p)) return false;
      } else if (!(ch == '"' || ch == '\\' || ch == '/' || ch == 'b' || ch == 'f' || ch == 'n' || ch == 'r' ||
                   ch == 't')) {
        return false;
      }
      continue;
    }
    if (!json_utf8(c)) return false;
  }
  return false;
}

static bool json_digits(struct json_cursor *c) {
  const unsigned char *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
  return c->p > start;
}

static bool json_number(struct json_cursor *c) {
  if (*c->p == '-') c->p++;
  if (c->p >= c->end) return false;
  if (*c->p == '0') {
    c->p++;
  } else if (!json_digits(c)) {
    return false;
  }
  if (c->p < c->end && *c->p == '.') {
    c->p++;
    if (!json_digits(c)) return false;
  }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
    c->p++;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
    if (!json_digits(c)) return false;
  }
  return true;
}

static bool json_value(struct json_cursor *c, int depth) {
  json_ws(c);
  if (c->p >= c->end) return false;
  switch (*c->p) {
    case '"':
      return json_string(c);
    case 't':
      return json_lit(c, "true");
    case 'f':
      return json_lit(c, "false");
    case 'n':
      return json_lit(c, "null");
    case '{':
    case '[': {
      if (depth >= JSON_CHECK_MAX_DEPTH) return false;
      bool object = *c->p == '{';
      unsigned char close = object ? '}' : ']';
      c->p++;
      json_ws(c);
      if (c->p < c->end && *c->p == close) {
        c->p++;
        return true;
      }
      for (;;) {
        if (object) {
          json_ws(c);
          if (c->p >= c->end || *c->p != '"' || !json_string(c)) return false;
          json_ws(c);
          if (c->p >= c->end || *c->p != ':') return false;
          c->p++;
        }
        if (!json_value(c, depth + 1)) return false;
        json_ws(c);
        if (c->p >= c->end) return false;
        if (*c->p == ',') {
          c->p++;
          continue;
        }
        if (*c->p == close) {
          c->p++;
          return true;
        }
        return false;
      }
    }
    default:
      return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) && json_number(c);
  }
}

/* True when buf[0..len) is exactly one JSON value, optionally surrounded by whitespace. */
static bool json_check(const char *buf, size_t len) {
  struct json_cursor c = {(const unsigned char *)buf, (const unsigned char *)buf + len};
  /* A UTF-8 byte order mark is not JSON (RFC 8259 §8.1: implementations MUST NOT add one). */
  if (!json_value(&c, 0)) return false;
  json_ws(&c);
  return c.p == c.end;
}

#endif
