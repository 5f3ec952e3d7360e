//! The throwaway PostgreSQL cluster and AMQP broker that `make run` and the tests
//! find or start; never in images (feature `dev`).

pub mod amqp;
pub mod db;
pub mod testing;
