#include <stdio.h>
#include <kiln/kiln.h>

int main(void) {
  const char* isa = kiln_isa();
  if (!isa) { fprintf(stderr, "kiln_isa: %s\n", kiln_last_error()); return 1; }
  printf("kiln %s, kernel path %s\n", kiln_version(), isa);
  return 0;
}
