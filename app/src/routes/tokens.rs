//! API tokens in the portal: operators manage every token (of any role); tenant users create,
//! list and revoke tenant tokens for their own subscriptions. A new token is shown once.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::forms::{Fields, ServerForm};
use crate::island_code::IslandCode;
use crate::portal::message;
use crate::portal::views::{CreatedToken, TokenView};

/// Everything the tokens page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensData {
    pub is_operator: bool,
    /// The tenant user's subscriptions (what their tokens may cover).
    pub grants: Vec<String>,
    pub csrf_token: String,
    pub tokens: Vec<TokenView>,
}

#[server(endpoint = "load_tokens")]
pub async fn load_tokens() -> Result<TokensData, ServerFnError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    let tokens = portal()?.list_tokens(&viewer).await?;
    Ok(TokensData {
        is_operator: viewer.is_operator(),
        grants: viewer
            .access
            .subscriptions
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        csrf_token: viewer.csrf_token.clone(),
        tokens,
    })
}

#[server(endpoint = "create_api_token")]
pub async fn create_api_token(
    csrf: String,
    name: String,
    role: String,
    subscriptions: String,
) -> Result<CreatedToken, ServerFnError> {
    use crate::portal::{check_csrf, portal, signed_in};
    let viewer = signed_in()?;
    check_csrf(&viewer, &csrf)?;
    let address = crate::viewer::current_client_address();
    Ok(portal()?
        .create_token(
            &viewer,
            address,
            crate::portal::views::NewTokenForm {
                name,
                role,
                subscriptions,
            },
        )
        .await?)
}

#[server(endpoint = "revoke_api_token")]
pub async fn revoke_api_token(csrf: String, id: i64) -> Result<(), ServerFnError> {
    use crate::portal::{check_csrf, portal, signed_in};
    let viewer = signed_in()?;
    check_csrf(&viewer, &csrf)?;
    let address = crate::viewer::current_client_address();
    Ok(portal()?.revoke_token(&viewer, address, id).await?)
}

fn create_call(f: &Fields) -> Option<CreateApiToken> {
    Some(CreateApiToken {
        csrf: f.text("csrf"),
        name: f.text("name"),
        role: f.text("role"),
        subscriptions: f.text("subscriptions"),
    })
}

fn revoke_call(f: &Fields) -> Option<RevokeApiToken> {
    Some(RevokeApiToken {
        csrf: f.text("csrf"),
        id: f.number("id")?,
    })
}

#[component]
pub fn TokensPage() -> impl IntoView {
    view! {
        <h1>"API tokens"</h1>
        <p class="period">
            "Scripts and tools (Azure's usage cmdlets, Power BI, your billing system) read usage with a token: "
            <code>"Authorization: Bearer mbt_…"</code> "."
        </p>
        <TokenManager/>
        <IslandCode/>
    }
}

/// The forms and the list: the part of the page that runs in the browser, so a change shows
/// its outcome in place (a new secret is shown once, and only here).
#[island]
fn TokenManager() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let data = crate::codec::page_resource(
        move || (create.version().get(), revoke.version().get()),
        |_| load_tokens(),
    );
    view! {
        <CreatedNotice create/>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading tokens…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <TokensBody page create revoke/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">"The tokens could not be loaded: " {message(&e)}</p>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CreatedNotice(create: ServerAction<CreateApiToken>) -> impl IntoView {
    move || {
        create.value().get().map(|result| match result {
            Ok(created) => view! {
                <section class="notice created" role="status">
                    <h2>"Token created: " {created.name.clone()} " (" {created.role.clone()} ")"</h2>
                    <p>"Copy it now. It is shown only this once; Meterbook keeps only a hash of it."</p>
                    <p><code class="secret" data-testid="new-token">{created.token.clone()}</code></p>
                </section>
            }
            .into_any(),
            Err(e) => view! {
                <p class="error" role="alert">"The token was not created: " {message(&e)}</p>
            }
            .into_any(),
        })
    }
}

#[component]
fn TokensBody(
    page: TokensData,
    create: ServerAction<CreateApiToken>,
    revoke: ServerAction<RevokeApiToken>,
) -> impl IntoView {
    let csrf = page.csrf_token.clone();
    let revoke_csrf = csrf.clone();
    let default_subs = page.grants.join(", ");
    let role_field = if page.is_operator {
        view! {
            <label for="token-role">"Role"</label>
            <select id="token-role" name="role">
                <option value="tenant">"tenant: reads the subscriptions listed"</option>
                <option value="operator">"operator: reads every subscription"</option>
                <option value="provider">"provider: submits usage records"</option>
            </select>
        }
        .into_any()
    } else {
        view! { <input type="hidden" name="role" value="tenant"/> }.into_any()
    };
    let rows = page
        .tokens
        .into_iter()
        .map(|t| {
            let csrf = revoke_csrf.clone();
            let state = match &t.revoked_at {
                Some(at) => format!("revoked {at}"),
                None => "active".to_owned(),
            };
            let live = t.revoked_at.is_none();
            view! {
                <tr>
                    <td class="num">{t.id}</td>
                    <td>{t.name.clone()}</td>
                    <td>{t.role.clone()}</td>
                    <td>{t.subscriptions.iter().map(|s| view! { <div><code>{s.clone()}</code></div> }).collect_view()}</td>
                    <td>{t.created_at.clone()}</td>
                    <td>{state}</td>
                    <td>
                        {live.then(|| view! {
                            <ServerForm action=revoke call=revoke_call>
                                <input type="hidden" name="csrf" value=csrf/>
                                <input type="hidden" name="id" value=t.id/>
                                <button type="submit" class="secondary" aria-label=format!("Revoke token {}", t.name)>"Revoke"</button>
                            </ServerForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="new-token-title">
            <h2 id="new-token-title">"New token"</h2>
            <ServerForm action=create call=create_call class="stacked-form">
                <input type="hidden" name="csrf" value=csrf/>
                <label for="token-name">"Name"</label>
                <input id="token-name" name="name" required maxlength="64" placeholder="e.g. billing-export"/>
                {role_field}
                <label for="token-subs">"Subscriptions (tenant tokens; separate with commas)"</label>
                <input id="token-subs" name="subscriptions" value=default_subs/>
                <button type="submit">"Create token"</button>
            </ServerForm>
        </section>
        <section class="card" aria-labelledby="tokens-title">
            <h2 id="tokens-title">{if page.is_operator { "All tokens" } else { "Your tokens" }}</h2>
            <div class="table-scroll">
                <table class="usage-table">
                    <thead>
                        <tr>
                            <th scope="col" class="num">"ID"</th>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Subscriptions"</th>
                            <th scope="col">"Created (UTC)"</th>
                            <th scope="col">"State"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
