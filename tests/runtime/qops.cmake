# Tests of Q ops, kernel blobs and Q execution. Owner: QX.
