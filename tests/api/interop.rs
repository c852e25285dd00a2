//! Interoperability: tokens verified by JOSE libraries nobody here wrote.
