//! Stand-ins for the services the functions call, speaking their real protocols.

pub mod koji;
