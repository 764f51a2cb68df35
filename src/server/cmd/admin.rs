//! `SHT PASSWORD`: the administrator stops the server (every node of a cluster).

use crate::server::node::BusMsg;
use crate::server::state::{Reply, State};
use crate::server::store::accounts;
use crate::text;

impl State {
    /// `SHT PASSWORD`: every client is told and the server exits.
    pub fn sht(&self, password: &str) -> Reply {
        let Some(admin) = &self.config().admin_password else {
            return Reply::err(text::SHUTDOWN_DISABLED);
        };
        if !accounts::verify(admin, password) {
            self.announce(text::INCORRECT_PASSWORD);
            return Reply::err(text::INCORRECT_PASSWORD);
        }
        if self.config().wipe_forum_on_shutdown {
            if let Err(e) = self.store().forum().wipe() {
                log::error!("cannot wipe the forum: {e}");
            }
        }
        self.announce(text::SERVER_SHUTTING_DOWN);
        if let Some(node) = self.node() {
            let from = node.name.clone();
            self.publish(&BusMsg::Shutdown { from });
        }
        self.shutdown();
        Reply::ok(vec![])
    }
}
