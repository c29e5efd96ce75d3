/* Test driver for json-check.h: reads records (u32 little-endian length, bytes) from stdin and writes one
 * character per record to stdout: '1' valid JSON, '0' not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../../src/launcher/json-check.h"

int main(void) {
  unsigned char len_bytes[4];
  while (fread(len_bytes, 1, 4, stdin) == 4) {
    uint32_t len = (uint32_t)len_bytes[0] | (uint32_t)len_bytes[1] << 8 | (uint32_t)len_bytes[2] << 16 |
                   (uint32_t)len_bytes[3] << 24;
    char *buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, stdin) != len) return 2;
    putchar(json_check(buf, len) ? '1' : '0');
    free(buf);
  }
  return 0;
}
