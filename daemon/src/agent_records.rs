//! Where this daemon has made agent pods: (context, namespace) pairs in a small JSON file, so
//! that a daemon started after one that was killed deletes the agent pods it left behind
//! (found there by the owner label), without listing every namespace of every cluster.

use std::collections::BTreeSet;
use std::path::PathBuf;

use tokio::sync::Mutex;

use crate::clusters::Clusters;

type Places = BTreeSet<(String, String)>;

pub struct AgentRecords {
    path: PathBuf,
    places: Mutex<Option<Places>>,
}

impl AgentRecords {
    pub fn new(path: PathBuf) -> AgentRecords {
        AgentRecords { path, places: Mutex::new(None) }
    }

    /// Notes that agent pods may exist in `namespace` of `context`.
    pub async fn remember(&self, context: &str, namespace: &str) {
        let mut places = self.places.lock().await;
        let known = places.get_or_insert_with(|| read(&self.path));
        if known.insert((context.to_string(), namespace.to_string())) {
            write(&self.path, known);
        }
    }

    /// Deletes the agent pods of `owner` wherever an earlier daemon noted it made some; the
    /// places whose cluster answered are forgotten.
    pub async fn clean_up(&self, clusters: &Clusters, owner: &crate::agent_pod::Owner) {
        let noted = read(&self.path);
        let mut kept = Places::new();
        for (context, namespace) in noted {
            match clusters.client(Some(&context)).await {
                Ok((_, client)) => crate::agent_pod::delete_owned(client, &namespace, owner).await,
                Err(err) => {
                    tracing::warn!(%context, %namespace, %err, "leftover agent pods there are not deleted now");
                    kept.insert((context, namespace));
                }
            }
        }
        let mut places = self.places.lock().await;
        let known = places.get_or_insert_with(Places::new);
        known.extend(kept);
        write(&self.path, known);
    }
}

fn read(path: &std::path::Path) -> Places {
    crate::user_file::read_text(path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

fn write(path: &std::path::Path, places: &Places) {
    let text = serde_json::to_string(places).unwrap_or_default();
    if let Err(err) = std::fs::write(path, text) {
        tracing::warn!(path = %path.display(), %err, "cannot note where agent pods are");
    }
}
