//! porter-api's public-API tests: OpenELB compatibility, validation messages and the generated CRDs.

mod suite;
