//! The encoder against what `nft` itself sends for the same table.

use super::netlink::{answers, ACK};
use super::*;

/// (type, flags without `NLM_F_ACK`, payload) of each message in `batch`.
fn messages(batch: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
    let messages = answers(batch).unwrap();
    messages.iter().map(|message| (message.kind, message.flags & !ACK, message.payload.to_vec())).collect()
}

fn table(rank: u8, userdata: &[u8]) -> Table<'_> {
    Table { name: "tether_42", rank, userdata }
}

fn nft_batch() -> Vec<u8> {
    let hex: String = include_str!("nft-replace-batch.hex").lines().filter(|line| !line.starts_with('#')).collect();
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap()).collect()
}

#[test]
fn replace_batch_is_the_batch_nft_sends_for_the_same_table() {
    let redirects = [Redirect { port: 8080, to_v4: 40001, to_v6: Some(40002) }];
    let (ours, steps, next_seq) = replace_batch(7, table(1, &[]), &redirects).end();
    let expected = messages(&nft_batch());
    let ours_messages = messages(&ours);
    assert_eq!(ours_messages.len(), expected.len());
    for (index, (ours, nft)) in ours_messages.iter().zip(&expected).enumerate() {
        assert_eq!(ours, nft, "message {index}");
    }
    let seqs: Vec<u32> = answers(&ours).unwrap().iter().map(|message| message.seq).collect();
    assert_eq!(seqs, (7..7 + expected.len() as u32).collect::<Vec<_>>());
    assert_eq!(next_seq, 7 + expected.len() as u32);
    assert_eq!(steps.len(), expected.len() - 1, "every message but the batch end has a step");
}

#[test]
fn replace_batch_asks_only_its_last_change_for_an_acknowledgement() {
    let (batch, steps, _) = replace_batch(1, table(0, b"{}"), &[Redirect { port: 1, to_v4: 2, to_v6: None }]).end();
    let acked: Vec<u32> =
        answers(&batch).unwrap().iter().filter(|message| message.flags & ACK != 0).map(|message| message.seq).collect();
    assert_eq!(acked, [steps.last().unwrap().0]);
    assert_eq!(steps.last().unwrap().1, Step::NewRule("output"));
}

#[test]
fn replace_batch_without_redirects_only_deletes_the_table() {
    let (batch, steps, _) = replace_batch(1, table(0, b"{}"), &[]).end();
    let kinds: Vec<u16> = answers(&batch).unwrap().iter().map(|message| message.kind).collect();
    assert_eq!(kinds, [BATCH_BEGIN, nft_message(NEWTABLE), nft_message(DELTABLE), BATCH_END]);
    assert_eq!(steps.last().unwrap().1, Step::DelTable);
}

#[test]
fn replace_batch_gives_the_table_its_userdata_but_not_the_one_it_adds_to_delete() {
    let (batch, _, _) = replace_batch(1, table(0, b"claims"), &[Redirect { port: 1, to_v4: 2, to_v6: None }]).end();
    let tables: Vec<bool> = answers(&batch)
        .unwrap()
        .iter()
        .filter(|message| message.kind == nft_message(NEWTABLE))
        .map(|message| message.attrs().unwrap().contains(&(TABLE_USERDATA, &b"claims"[..])))
        .collect();
    assert_eq!(tables, [false, true]);
}
