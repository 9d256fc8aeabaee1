// The Rust code of `websocket-article.txt` ("GitHub Homepage: https://github.com/eastspire/hyperlane"),
// every code block in the article's order, kept as the article prints it (indentation included,
// which the article lost), with two changes only:
//   1. the `use hyperlane::*;` line is gone: the including module supplies its own `use` line;
//   2. the `\"` escapes the article lost inside string literals are restored.
// Do not edit or reformat this file (rustfmt does not reach `include!`d files): it is the proof
// that the article's code compiles against wirelane. See `examples/src/article/mod.rs`.
async fn websocket_handler(ctx: Context) {
// WebSocket upgrade is handled automatically by the framework
let key: String = ctx.get_request_header(SEC_WEBSOCKET_KEY).await.unwrap();
let request_body: Vec<u8> = ctx.get_request_body().await;
// Echo the WebSocket key back to complete handshake
let _ = ctx.set_response_body(key).await.send_body().await;
// Echo the request body for demonstration
let _ = ctx.set_response_body(request_body).await.send_body().await;
}
async fn chat_websocket_handler(ctx: Context) {
let client_addr = ctx.get_socket_addr_or_default_string().await;
// Send welcome message
let welcome_msg = format!("Welcome to chat, client: {}", client_addr);
let _ = ctx.set_response_body(welcome_msg).await.send_body().await;
// Handle incoming messages in a loop
loop {
let request_body: Vec<u8> = ctx.get_request_body().await;
if request_body.is_empty() {
break; // Client disconnected
}
// Process and echo the message
let message = String::from_utf8_lossy(&request_body);
let response = format!("Echo: {}", message);
if ctx.set_response_body(response).await.send_body().await.is_err() {
break; // Connection closed
}
}
}
async fn real_time_data_handler(ctx: Context) {
// Send initial connection confirmation
let _ = ctx.set_response_body("Connected to real-time data stream").await.send_body().await;
// Stream real-time data
for i in 0..100 {
let data = format!("{{\"timestamp\": {}, \"value\": {}, \"sequence\": {}}}",
current_timestamp(),
rand::random::<f32>() * 100.0,
i);
if ctx.set_response_body(data).await.send_body().await.is_err() {
break; // Client disconnected
}
tokio::time::sleep(tokio::time::Duration::from_millis(100)).await;
}
}
fn current_timestamp() -> u64 {
std::time::SystemTime::now()
.duration_since(std::time::UNIX_EPOCH)
.unwrap()
.as_secs()
}
#[tokio::main]
async fn main() {
let server: Server = Server::new();
server.host("0.0.0.0").await;
server.port(60000).await;
// Optimize for WebSocket connections
server.enable_nodelay().await;
server.disable_linger().await;
server.ws_buffer_size(4096).await;
server.route("/ws", websocket_handler).await;
server.route("/chat", chat_websocket_handler).await;
server.route("/data", real_time_data_handler).await;
server.run().await.unwrap();
}
async fn multiplexed_websocket_handler(ctx: Context) {
let client_id = generate_client_id();
// Send client ID
let welcome = format!("{{\"type\": \"welcome\", \"client_id\": \"{}\"}}", client_id);
let _ = ctx.set_response_body(welcome).await.send_body().await;
// Handle multiple message types
loop {
let request_body: Vec<u8> = ctx.get_request_body().await;
if request_body.is_empty() {
break;
}
match parse_message(&request_body) {
MessageType::Chat(content) => {
let response = format!("{{\"type\": \"chat\", \"content\": \"{}\"}}", content);
let _ = ctx.set_response_body(response).await.send_body().await;
}
MessageType::Command(cmd) => {
let result = execute_command(&cmd).await;
let response = format!("{{\"type\": \"command_result\", \"result\": \"{}\"}}", result);
let _ = ctx.set_response_body(response).await.send_body().await;
}
MessageType::Ping => {
let pong = "{\"type\": \"pong\"}";
let _ = ctx.set_response_body(pong).await.send_body().await;
}
MessageType::Unknown => {
let error = "{\"type\": \"error\", \"message\": \"Unknown message type\"}";
let _ = ctx.set_response_body(error).await.send_body().await;
}
}
}
}
enum MessageType {
Chat(String),
Command(String),
Ping,
Unknown,
}
fn parse_message(data: &[u8]) -> MessageType {
let message = String::from_utf8_lossy(data);
if message.contains("\"type\":\"chat\"") {
if let Some(start) = message.find("\"content\":\"") {
let content_start = start + 11;
if let Some(end) = message[content_start..].find("\"") {
let content = &message[content_start..content_start + end];
return MessageType::Chat(content.to_string());
}
}
} else if message.contains("\"type\":\"command\"") {
if let Some(start) = message.find("\"command\":\"") {
let cmd_start = start + 11;
if let Some(end) = message[cmd_start..].find("\"") {
let cmd = &message[cmd_start..cmd_start + end];
return MessageType::Command(cmd.to_string());
}
}
} else if message.contains("\"type\":\"ping\"") {
return MessageType::Ping;
}
MessageType::Unknown
}
async fn execute_command(cmd: &str) -> String {
match cmd {
"status" => "Server is running".to_string(),
"time" => format!("Current time: {}", current_timestamp()),
"memory" => "Memory usage: 95MB".to_string(),
_ => "Unknown command".to_string(),
}
}
fn generate_client_id() -> String {
format!("client_{}", rand::random::<u32>())
}
// Note: This is a simplified example. Production implementations would use
// shared state management for handling multiple connections
async fn broadcast_websocket_handler(ctx: Context) {
let client_id = generate_client_id();
// Join broadcast group
let join_msg = format!("{{\"type\": \"joined\", \"client_id\": \"{}\"}}", client_id);
let _ = ctx.set_response_body(join_msg).await.send_body().await;
// Handle messages and broadcast to group
loop {
let request_body: Vec<u8> = ctx.get_request_body().await;
if request_body.is_empty() {
break;
}
let message = String::from_utf8_lossy(&request_body);
// In a real implementation, this would broadcast to all connected clients
let broadcast_msg = format!("{{\"type\": \"broadcast\", \"from\": \"{}\", \"message\": \"{}\"}}",
client_id, message);
// Echo back to sender (in real implementation, send to all clients)
let _ = ctx.set_response_body(broadcast_msg).await.send_body().await;
}
// Client disconnected
let leave_msg = format!("{{\"type\": \"left\", \"client_id\": \"{}\"}}", client_id);
let _ = ctx.set_response_body(leave_msg).await.send_body().await;
}
async fn game_websocket_handler(ctx: Context) {
let player_id = generate_client_id();
// Player joined game
let join_game = format!("{{\"type\": \"player_joined\", \"player_id\": \"{}\"}}", player_id);
let _ = ctx.set_response_body(join_game).await.send_body().await;
// Game loop
loop {
let request_body: Vec<u8> = ctx.get_request_body().await;
if request_body.is_empty() {
break;
}
let action = String::from_utf8_lossy(&request_body);
let game_state = process_game_action(&player_id, &action).await;
let response = format!("{{\"type\": \"game_state\", \"state\": \"{}\"}}", game_state);
let _ = ctx.set_response_body(response).await.send_body().await;
}
// Player left game
let leave_game = format!("{{\"type\": \"player_left\", \"player_id\": \"{}\"}}", player_id);
let _ = ctx.set_response_body(leave_game).await.send_body().await;
}
async fn process_game_action(player_id: &str, action: &str) -> String {
// Simulate game logic
tokio::time::sleep(tokio::time::Duration::from_millis(10)).await;
format!("Player {} performed action: {}", player_id, action)
}
async fn resilient_websocket_handler(ctx: Context) {
let client_addr = ctx.get_socket_addr_or_default_string().await;
// Send connection acknowledgment
let ack = format!("{{\"type\": \"connected\", \"client\": \"{}\"}}", client_addr);
if ctx.set_response_body(ack).await.send_body().await.is_err() {
return; // Connection failed immediately
}
let mut heartbeat_timer = tokio::time::interval(tokio::time::Duration::from_secs(30));
let mut message_count = 0u64;
loop {
tokio::select! {
_ = heartbeat_timer.tick() => {
// Send heartbeat
let heartbeat = format!("{{\"type\": \"heartbeat\", \"count\": {}}}", message_count);
if ctx.set_response_body(heartbeat).await.send_body().await.is_err() {
break; // Connection lost
}
}
// In a real implementation, this would be a proper message receive
_ = tokio::time::sleep(tokio::time::Duration::from_millis(100)) => {
let request_body: Vec<u8> = ctx.get_request_body().await;
if request_body.is_empty() {
continue;
}
message_count += 1;
// Process message with error handling
match process_websocket_message(&request_body).await {
Ok(response) => {
if ctx.set_response_body(response).await.send_body().await.is_err() {
break; // Connection lost
}
}
Err(e) => {
let error_msg = format!("{{\"type\": \"error\", \"message\": \"{}\"}}", e);
let _ = ctx.set_response_body(error_msg).await.send_body().await;
}
}
}
}
}
// Connection cleanup
println!("WebSocket connection closed for {}", client_addr);
}
async fn process_websocket_message(data: &[u8]) -> Result<String, String> {
let message = String::from_utf8_lossy(data);
// Validate message format
if message.len() > 1024 {
return Err("Message too long".to_string());
}
if message.trim().is_empty() {
return Err("Empty message".to_string());
}
// Process valid message
Ok(format!("{{\"type\": \"processed\", \"original\": \"{}\"}}", message))
}
async fn trading_websocket_handler(ctx: Context) {
// Financial trading WebSocket
let trader_id = generate_client_id();
// Send market data subscription confirmation
let sub_confirm = format!("{{\"type\": \"subscribed\", \"trader_id\": \"{}\"}}", trader_id);
let _ = ctx.set_response_body(sub_confirm).await.send_body().await;
// Stream real-time market data
let symbols = ["AAPL", "GOOGL", "MSFT", "AMZN"];
for i in 0..1000 {
for symbol in &symbols {
let price = 100.0 + rand::random::<f32>() * 50.0;
let volume = rand::random::<u32>() % 10000 + 1000;
let market_data = format!(
"{{\"type\": \"market_data\", \"symbol\": \"{}\", \"price\": {:.2}, \"volume\": {}, \"timestamp\": {}}}",
symbol, price, volume, current_timestamp()
);
if ctx.set_response_body(market_data).await.send_body().await.is_err() {
return; // Client disconnected
}
}
tokio::time::sleep(tokio::time::Duration::from_millis(50)).await;
}
}
async fn collaboration_websocket_handler(ctx: Context) {
// Collaborative document editing
let user_id = generate_client_id();
// User joined document
let join_doc = format!("{{\"type\": \"user_joined\", \"user_id\": \"{}\"}}", user_id);
let _ = ctx.set_response_body(join_doc).await.send_body().await;
// Handle document operations
loop {
let request_body: Vec<u8> = ctx.get_request_body().await;
if request_body.is_empty() {
break;
}
let operation = String::from_utf8_lossy(&request_body);
let result = apply_document_operation(&user_id, &operation).await;
let response = format!("{{\"type\": \"operation_result\", \"result\": \"{}\"}}", result);
let _ = ctx.set_response_body(response).await.send_body().await;
}
// User left document
let leave_doc = format!("{{\"type\": \"user_left\", \"user_id\": \"{}\"}}", user_id);
let _ = ctx.set_response_body(leave_doc).await.send_body().await;
}
async fn apply_document_operation(user_id: &str, operation: &str) -> String {
// Simulate document operation processing
tokio::time::sleep(tokio::time::Duration::from_millis(5)).await;
format!("Applied operation by {}: {}", user_id, operation)
}
