# Tests of reconstruction building blocks. Owner: REC.
