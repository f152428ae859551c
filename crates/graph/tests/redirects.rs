//! The Graph client never follows a redirect: its requests carry the client
//! secret (to the token endpoint) or a bearer token (to Graph), and a
//! redirect would hand them to whatever host `Location` names. A hostile
//! endpoint answers 307 and 302 here, and the host it points at must
//! receive nothing.

use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tac_graph::{AppCredentials, Cloud, GraphClient, GraphError, Prefer, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-line HTTP server: answers every request with `response`, and
/// counts the requests it saw.
async fn server(response: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (counter, response) = (Arc::clone(&counter), response.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                if socket.read(&mut buf).await.unwrap_or(0) > 0 {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = socket.write_all(response.as_bytes()).await;
                }
            });
        }
    });
    (base, seen)
}

fn redirect(status: &str, to: &str) -> String {
    format!("HTTP/1.1 {status}\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

fn client(login: &str, graph: &str) -> GraphClient {
    GraphClient::new(
        Cloud::new(login, &format!("{graph}/v1.0")).expect("cloud"),
        AppCredentials {
            tenant_id: "9122040d-6c67-4c5b-b112-36a304b66dad".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: SecretString::from("the-secret".to_owned()),
        },
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(1),
        },
    )
    .expect("client")
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_sends_the_secret_nowhere_else() {
    let (elsewhere, reached) = server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".into()).await;
    let (login, asked) = server(redirect("307 Temporary Redirect", &format!("{elsewhere}/steal?x=1"))).await;
    let err = client(&login, &elsewhere).fetch_token().await.expect_err("a redirect is no token");
    assert!(
        matches!(&err, GraphError::Redirected { status: 307, location: Some(l), .. } if l == &format!("{elsewhere}/steal")),
        "{err:?}"
    );
    assert_eq!(err.code(), "redirected");
    assert!(err.advice().contains("check the Login URL and Graph URL"), "{}", err.advice());
    assert_eq!(asked.load(Ordering::SeqCst), 1, "asked once: a redirect is not retried");
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the secret went nowhere else");
}

#[tokio::test]
async fn a_redirect_from_graph_sends_the_token_nowhere_else() {
    let token = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 45\r\n\r\n{\"access_token\":\"abc.def.ghi\",\"expires_in\":9}";
    let (login, _) = server(token.into()).await;
    let (elsewhere, reached) = server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".into()).await;
    let (graph, asked) = server(redirect("302 Found", &format!("{elsewhere}/v1.0/users"))).await;
    let graph_client = client(&login, &graph);
    let err = graph_client.get_value("/users", &Prefer::default()).await.expect_err("a redirect is no answer");
    assert!(matches!(err, GraphError::Redirected { status: 302, .. }), "{err:?}");
    let batch = graph_client.batch_get(&["/users".to_owned()]).await.expect_err("nor for $batch");
    assert!(matches!(batch, GraphError::Redirected { .. }), "{batch:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the bearer token went nowhere else");
}
