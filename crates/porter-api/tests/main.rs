//! porter-api's public-API tests: OpenELB compatibility, the generated CRDs and their CEL rules. (The validation
//! of objects into checked values is porter-model's, and so are its tests.)

mod suite;
